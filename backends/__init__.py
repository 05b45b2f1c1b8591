"""Interpretations of topos diagrams in numerical libraries."""
