"""Hypothesis profiles ('ci' is deterministic and bounded; 'dev' draws 20 fresh random
examples a property, so a new user's run stays short) and the slow tier.

``python -m pytest`` runs the fast tier, in which every module keeps tests that
exercise it; ``python -m pytest -m slow`` runs the slow tier; CI runs both. The slow
tier is the table ``SLOW`` below, by node id, so that moving a test between the
tiers never needs an edit to its file.
"""

from __future__ import annotations

import gc
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# fmt: off
#: The slow tier, ``{file: {test: why}}``. A test is ``name``, ``name[param]`` or, in a
#: module's doctests, the doctest's dotted name; ``name`` covers all its parameters.
#: An entry that names no test of a collected file is a collection error, so a renamed
#: test cannot drop out of both tiers.
SLOW: dict[str, dict[str, str]] = {
    "tests/backends/jax/test_fit.py": {
        "test_a_sharded_fit_differentiates_an_objective_by_jax_grad":
            "two fits of a language model; the fast tier trains an Objective unsharded",
    },
    "tests/backends/jax/test_moe.py": {
        "test_routed_equals_dense_on_every_token_within_capacity[0.5]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_dropless_routing_equals_the_dense_form_everywhere":
            "compiles both forms (a capacity case stays fast)",
        "test_mixtral_8x7b_has_the_published_count_and_transformers_agrees":
            "transformers' Flax Mistral traced at full size (eval_shape)",
        "test_a_tiny_mixtral_runs": "compiles a two-layer Mixtral",
        "test_routed_equals_dense_on_every_token_within_capacity[1.0]": "more capacities",
        "test_routed_equals_dense_on_every_token_within_capacity[1.25]": "more capacities",
        "test_a_dropless_mixtral_decodes_with_the_cache_as_the_uncached_model":
            "compiles a Mixtral decoder",
        "test_the_loss_trains_through_the_routed_layer": "compiles a gradient of the layer",
    },
    "tests/backends/jax/test_seq2seq.py": {
        "test_sampled_steps_have_the_logits_of_the_uncached_model":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_later_steps_read_the_cached_memory_not_the_memory": "compiles two decoder steps",
    },
    "tests/backends/jax/test_t5.py": {
        "test_untied_two_layer_logits_equal_an_independent_float64_t5":
            "compiles a two-layer encoder-decoder",
    },
    "tests/benchmarks/test_gpu.py": {
        "test_gpu_script_runs_tiny_on_cpu": "compiles nine tiny train steps and decoders",
        "test_the_hand_decoder_draws_the_tokens_generate_draws": "compiles four tiny decoders",
    },
    "tests/backends/apps/test_demo.py": {
        "test_the_sample_is_greedy_decoding_by_generate_across_windows":
            "compiles the demo's model and decoder",
        "test_tiny_demo_trains_samples_checkpoints_survives_ctrl_c_and_resumes":
            "six demo runs: train, Ctrl-C, resume, extend, diverge, overwrite",
        "test_tiny_llama_with_dropout_trains_and_samples": "a demo run of another model",
    },
    "tests/backends/jax/test_batching.py": {
        "test_vmap_compiles_to_no_more_instructions_than_the_batched_lowering":
            "compiles a transformer twice",
    },
    "tests/backends/jax/test_compile.py": {
        "test_jit_and_vmap_agree_with_per_example_calls_at_full_size": "a fuzzer at full size",
        "test_a_1000_layer_unrolled_para_runs_eagerly_and_matches_its_repeat":
            "a thousand layers, op by op",
    },
    "tests/backends/jax/test_recurrent.py": {
        "test_the_scan_equals_the_unrolling_and_reverse_is_conjugation":
            "three compilations per example (the fast tier checks n = 3 both ways)",
    },
    "tests/backends/jax/test_recurrent_decoding.py": {
        "test_greedy_generate_equals_uncached_greedy_for_a_hybrid": "a generate and 5 applies",
        "test_a_batch_of_left_padded_prompts_decodes_each_as_alone": "four generates",
        "test_cached_decoding_equals_the_uncached_run[gru-attention0]": "one more architecture",
        "test_cached_decoding_equals_the_uncached_run[lstm-attention1]": "one more architecture",
        "test_cached_decoding_equals_the_uncached_run[rnn-attention2]": "one more architecture",
        "test_cached_decoding_equals_the_uncached_run[mamba-attention4]": "one more architecture",
        "test_cached_decoding_equals_the_uncached_run[mamba-attention5]": "a hybrid: two layers",
    },
    "tests/backends/jax/test_fold.py": {
        "test_fold_equals_materialised_float32[causal-groups]": "compiles a fold and its gradient",
        "test_fold_equals_materialised_float32[full-groups]": "compiles a fold and its gradient",
        "test_fold_equals_materialised_float32[one-block]": "compiles a fold and its gradient",
        "test_fold_equals_materialised_float64[causal-groups]": "compiles a fold and its gradient",
        "test_fold_equals_materialised_float64[causal-padded]": "the float32 case stays fast",
        "test_optimized_self_attention_trains_the_same": "two attention layers' gradients",
        "test_backward_memory_stays_linear": "compiles two gradients",
    },
    "tests/backends/jax/test_generate.py": {
        "test_decode_step_in_chunks_equals_one_run":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_a_decoder_whose_attention_is_not_causal_is_refused[attention(causal=False)]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_repeated_calls_reuse_one_compiled_decoder":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_bad_ids_and_lengths_are_named":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_sampling_is_seeded_and_top_k_one_is_greedy":
            "compiles greedy and sampling decoders (test_sample samples fast)",
        "test_a_decoder_whose_attention_is_not_causal_is_refused[self_attention(causal=False)]":
            "one more layer (attention(causal=False) stays fast)",
        "test_a_decoder_whose_attention_is_not_causal_is_refused[linear attention(causal=False)]":
            "one more layer",
        "test_a_causal_einsum_attention_decodes_as_it_runs[scale, mask, scale, softmax]":
            "one more spelling (mask then softmax stays fast)",
        "test_a_causal_einsum_attention_decodes_as_it_runs[a mask of 0, linear]":
            "one more spelling",
        "test_cached_greedy_equals_uncached[gpt-learned-tied]": "one more architecture",
        "test_cached_greedy_equals_uncached[llama-zoo]": "one more architecture",
        "test_cached_greedy_equals_uncached[neox-parallel-partial-rope]": "one more architecture",
        "test_cached_greedy_equals_uncached[none-mqa-geglu]": "one more architecture",
        "test_cached_greedy_equals_uncached[transformer]": "one more architecture",
        "test_left_padded_batch_equals_each_prompt_alone": "decodes a batch and each prompt",
        "test_the_loop_over_tokens_never_copies_a_cache[gpt-learned-tied-1]": "one more model",
        "test_the_loop_over_tokens_never_copies_a_cache[gpt-learned-tied-3]": "one more model",
        "test_a_prompt_that_fills_the_context_decodes": "compiles a decoder at full context",
        "test_a_stack_deeper_than_the_unrolled_limit_decodes_with_a_scan":
            "compiles a scanned decoder and the uncached model",
    },
    "tests/backends/test_cli.py": {
        "test_load_runs_a_random_vit": "loads, analyses, draws and runs a model",
    },
    "tests/backends/jax/test_hf.py": {
        "test_round_trip_keeps_hub_names_buffers_and_bfloat16":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_save_writes_the_same_folder_back[llama-gqa]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_sharded_checkpoints_are_read_and_written_shard_by_shard":
            "writes and reads a sharded checkpoint",
        "test_save_writes_the_same_folder_back[gpt2]":
            "one more family (llama-gqa stays fast)",
        "test_save_writes_the_same_folder_back[vit-model]":
            "one more family",
        "test_logits_equal_transformers_in_float32[gpt2]": "one more family",
        "test_logits_equal_transformers_in_float32[llama-gqa]":
            "builds transformers' Flax model; the round trips stay fast",
        "test_logits_equal_transformers_in_float32[llama]": "one more configuration",
        "test_logits_equal_transformers_in_float32[mistral-gqa]": "one more configuration",
        "test_logits_equal_transformers_in_float32[vit]": "one more head",
        "test_logits_equal_transformers_in_float32[vit-model]": "one more family",
        "test_logits_equal_transformers_in_float32[vit-states]": "one more head",
        "test_logits_equal_transformers_in_float64": "float64 references of three families",
        "test_write_random_then_load_generates": "compiles a decoder",
        "test_save_writes_the_same_folder_back[llama]": "one more configuration",
        "test_save_writes_the_same_folder_back[mistral-gqa]": "one more configuration",
        "test_save_writes_the_same_folder_back[vit-states]": "one more head",
        "test_save_writes_the_same_folder_back[vit]": "one more family",
    },
    "tests/backends/jax/test_icl.py": {
        "test_recall_queries_a_context_key":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_one_layer_is_one_gd_step_float64[False]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_k_layers_are_k_gd_steps[2]":
            "one more depth (one layer stays fast)",
        "test_one_layer_is_one_gd_step_float32": "the float64 test is the same claim",
        "test_k_layers_are_k_gd_steps[3]": "one more depth",
        "test_k_layers_are_k_gd_steps[5]": "one more depth",
        "test_best_eta_is_the_line_search_minimum": "a line search, eagerly",
        "test_alignment_of_a_model_with_itself": "derivatives of a model, eagerly",
    },
    "tests/backends/jax/test_layout.py": {
        "test_fit_layers_is_the_old_name_of_unstack_and_warns":
            "trains, for a deprecated keyword",
        "test_the_train_step_of_the_layer_layout_slices_no_parameter":
            "compiles a train step in both layouts",
        "test_fit_in_the_layer_layout_trains_as_stacked_and_checkpoints_stacked":
            "trains in both layouts",
        "test_both_layouts_hold_the_same_numbers_and_give_the_same_function":
            "compiles a model in both layouts",
        "test_gradients_in_the_layer_layout_are_the_slices_of_the_stacked_ones":
            "gradients in both layouts",
        "test_an_interrupted_layer_layout_run_saves_stacked_and_resumes": "trains three times",
        "test_fit_unstack_true_takes_a_models_diagram_and_bad_uses_are_refused": "trains",
        "test_generate_takes_the_layer_layout": "decodes in both layouts",
        "test_unstack_splits_exactly_the_parameters_of_unrolled_repeats":
            "compiles a model in both layouts",
    },
    "tests/backends/jax/test_lengths.py": {
        "test_any_length_equals_the_prefix_of_the_full_run": "compiles each length",
    },
    "tests/backends/jax/test_lm_dropout.py": {
        "test_each_residual_branch_drops_at_rate_p_independently":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_zero_rate_and_inference_are_the_plain_model_and_training_is_keyed[True]":
            "one more architecture",
    },
    "tests/backends/jax/test_multihost.py": {
        "test_two_processes_fit_like_one_and_one_restores_their_checkpoint":
            "four processes: two hosts over loopback, the reference, the restore",
    },
    "tests/backends/jax/test_nn_primitives.py": {
        "test_transformer_logits_agree_with_a_jnp_reimplementation":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_the_compiled_transformer_costs_what_the_hand_written_one_costs":
            "compiles a transformer twice",
    },
    "tests/backends/jax/test_optimize_numeric.py": {
        "test_every_zoo_model_computes_the_same_after_optimize":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_random_chains_agree": "egglog on random chains",
        "test_random_tensor_expressions_are_certified_and_agree": "egglog on random expressions",
    },
    "tests/backends/jax/test_params.py": {
        "test_apply_agrees_with_the_float64_reference":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_apply_agrees_with_the_float64_reference_at_full_size": "a fuzzer at full size",
    },
    "tests/backends/jax/test_penzai.py": {
        "test_llama_logits_equal_penzai_llamalike": "Penzai models, compiled",
        "test_to_penzai_llama_carries_topos_weights": "Penzai models, compiled",
        "test_gpt_neox_logits_equal_penzai_gpt_neox": "Penzai models, compiled",
    },
    "tests/backends/jax/test_regions.py": {
        "test_explain_rule_model_counterfactual":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_explain_equals_the_reference_path":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_facets_equal_the_lp_only_reference": "an LP per facet, twice",
        "test_regions_nd_is_a_certified_lower_bound": "region enumeration in n dimensions",
        "test_local_map_matches_jacfwd_at_random_points": "jacobians of a CNN and an RNN",
        "test_gcn_with_the_adjacency_given": "regions of a GCN",
    },
    "tests/backends/jax/test_sample.py": {
        "test_sample_runs_a_transformer":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_a_model_of_variable_length_samples_over_its_bound": "compiles each length",
    },
    "tests/backends/jax/test_search.py": {
        "test_evaluate_trains_every_task_and_seed": "the search trains",
    },
    "tests/backends/jax/test_batch.py": {
        "test_batched_backward_equals_vjp_of_the_batch[rmsnorm]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_a_kernel_cotangent_is_one_convolution_over_the_batch":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_batched_backward_equals_vjp_of_the_batch[swiglu mlp]":
            "one more model (rmsnorm stays fast)",
        "test_batched_backward_equals_vjp_of_the_batch_slow": "the zoo's batched backward, twice",
        "test_batched_backward_on_generated_diagrams": "generated diagrams with attention",
    },
    "tests/backends/jax/test_lenses.py": {
        "test_fit_with_a_learner_follows_fit_with_optax":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_digits_mlp_follows_optax_for_a_few_steps":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_demo_transformer_follows_optax": "100 steps of a transformer, twice",
        "test_demo_transformer_follows_optax_adam_float64": "the same in float64",
        "test_digits_mlp_follows_optax": "100 steps twice; the fast tier runs 10",
        "test_only_the_key_bias_has_a_zero_gradient": "the transformer's gradient in two dtypes",
        "test_the_gradient_of_an_objective_is_jax_grad_of_its_call[transformer]":
            "two compiled gradients of a transformer; the fast tier keeps the Llama-style one",
        "test_an_objective_refuses_token_ids_out_of_range[True]":
            "four jitted programs; the fast tier checks the same messages untraced",
        "test_the_gradient_of_an_objective_is_jax_grad_of_its_call[mlp]":
            "the fast tier keeps the Llama-style case",
        "test_the_gradient_keeps_the_layer_layout":
            "two compiled gradients; fit's own test trains in the layer layout in the fast tier",
    },
    "tests/backends/jax/test_reverse_vjp.py": {
        "test_gradient_by_path_matches_jax_grad":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_zoo_agrees_with_vjp[rmsnorm]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_presets_agree_with_vjp": "the GPT-2 and Llama builders' backward, two dtypes",
        "test_zoo_agrees_with_vjp_slow": "builds and compiles the backward pass of the zoo",
        "test_generated_diagrams_agree[0]": "a generated diagram with attention",
        "test_generated_diagrams_agree[1]": "one more generated diagram",
        "test_generated_diagrams_agree[2]": "one more generated diagram",
        "test_zoo_agrees_with_vjp[mlp (tanh)]": "two dtypes of an MLP; rmsnorm stays fast",
        "test_a_small_cnn_agrees_with_vjp": "conv, relu, max_pool, linear in two dtypes",
    },
    "tests/backends/jax/test_reverse_primitives.py": {
        "test_softmax_fold_reverse_agrees_with_vjp_through_the_fold":
            "jax.vjp through the fold (map, scan, cond, checkpoint)",
        "test_recur_reverses_by_its_unrolling[gru-True]": "a reversed GRU fold, unrolled",
        "test_softmax_fold_reverses_as_the_materialised_attention[False]": "the causal one is fast",
    },
    "tests/backends/jax/test_reverse_laws.py": {
        "test_numeric_laws_hold_on_jax[RD2_zero]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_the_window_primitives_satisfy_the_higher_laws[conv-RD6]":
            "a third reverse derivative of a convolution",
        "test_numeric_laws_hold_on_jax[RD1]": "compiles both sides of each example",
        "test_numeric_laws_hold_on_jax[RD2]": "compiles both sides of each example",
        "test_numeric_laws_hold_on_jax[RD4]": "compiles both sides of each example",
        "test_numeric_laws_hold_on_jax[RD5]": "compiles both sides of each example",
        "test_numeric_laws_hold_on_jax[RD6]": "a third reverse derivative",
        "test_numeric_laws_hold_on_jax[RD7]": "a fourth reverse derivative",
        "test_the_window_primitives_satisfy_the_higher_laws[conv-RD7]":
            "a fourth reverse derivative of a conv (about 2 minutes)",
        "test_the_window_primitives_satisfy_the_higher_laws[max_pool-RD7]":
            "a fourth reverse derivative",
    },
    "tests/backends/jax/test_sharding.py": {
        "test_a_mesh_with_explicit_axes_is_refused_with_the_fix":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_sharded_init_is_the_plain_init_on_one_device":
            "compiles init twice (the error tests stay fast)",
        "test_sharded_equals_single_device": "the 8-device subprocess",
        "test_each_parameter_is_sharded_as_the_rules_say": "the 8-device subprocess",
        "test_collectives_are_the_expected_ones": "the 8-device subprocess",
        "test_fsdp_equals_single_device": "the 8-device subprocess",
        "test_checkpoint_resumes_exactly_and_onto_another_mesh": "the 8-device subprocess",
        "test_on_several_devices_a_bad_id_makes_its_example_nan": "the 8-device subprocess",
    },
    "tests/backends/jax/test_from_jax.py": {
        "test_zoo_round_trip_is_bit_exact[cnn (relu)]": "one more zoo model, jitted twice",
        "test_zoo_round_trip_is_bit_exact[rnn (tanh)]": "one more zoo model, jitted twice",
        "test_zoo_round_trip_is_bit_exact[swiglu mlp]": "one more zoo model, jitted twice",
        "test_zoo_round_trip_is_bit_exact[transformer]": "a transformer, jitted twice",
        "test_equinox_transformer_round_trip_and_parameters": "a transformer, jitted twice",
        "test_an_imported_model_trains_one_step_like_the_original": "fit and a gradient",
    },
    "tests/backends/jax/test_values.py": {
        "test_out_of_range_ids_are_refused_under_transformations[jit(grad(apply))--1]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_out_of_range_ids_are_refused_under_transformations[batched--1]":
            "one more transformation",
        "test_out_of_range_ids_are_refused_under_transformations[batched-100]":
            "one more transformation (jit(grad(apply)) stays fast)",
        "test_out_of_range_ids_are_refused_under_transformations[jit(grad(batched))-100]":
            "one more transformation",
        "test_out_of_range_ids_are_refused_under_transformations[jit(grad(batched))--1]":
            "one more transformation",
        "test_out_of_range_ids_are_refused_under_transformations[jit(grad(apply))-100]":
            "one more transformation",
        "test_apply_refuses_out_of_range_tokens": "a transformer, op by op",
    },
    "tests/backends/jax/test_zoo.py": {
        "test_linear_attention_is_homogeneous_of_degree_three":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_softmax_attention_is_not_piecewise_linear":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_second_differences_agree_with_the_verdict[mlp (tanh)]":
            "one more architecture",
        "test_every_zoo_model_compiles_and_runs": "compiles every architecture",
        "test_second_differences_agree_with_the_verdict[cnn (relu)]": "one more architecture",
        "test_second_differences_agree_with_the_verdict[rnn (relu)]": "one more architecture",
        "test_second_differences_agree_with_the_verdict[gcn (relu)]": "one more architecture",
        "test_second_differences_agree_with_the_verdict[cnn (gelu)]": "one more architecture",
        "test_second_differences_agree_with_the_verdict[rnn (tanh)]": "one more architecture",
        "test_second_differences_agree_with_the_verdict[gcn (tanh)]": "one more architecture",
    },
    "tests/benchmarks/test_baselines.py": {
        "test_repeat_unrolls_small_stacks_and_scans_deep_ones[0]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_quick_benchmark_writes_its_report": "the benchmark, at a tiny size",
        "test_doctests": "trains every baseline",
        "test_library_jit_train_steps_reduce_the_loss": "trains the baselines",
        "test_same_parameters_same_logits": "compiles every baseline",
        "test_initialisers_follow_the_contract": "builds every baseline",
    },
    "tests/benchmarks/test_llama_train.py": {
        "test_the_hand_written_model_computes_topos_logits_and_trains": "trains the baseline",
    },
    "tests/examples/test_digits.py": {
        "test_reaches_97_percent_test_accuracy": "the example, trained to its claim",
    },
    "tests/examples/test_traced_models.py": {
        "test_mixer_equals_equinox": "compiles the traced model and Equinox's",
        "test_encoder_decoder_equals_equinox": "compiles the traced model and Equinox's",
        "test_mixture_of_experts_equals_equinox": "compiles the traced model and Equinox's",
    },
    "tests/test_guide.py": {
        "test_page_examples_run[docs/recurrent.md]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_page_examples_run[docs/nn.md]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_page_examples_run[docs/learning.md]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_page_examples_run[docs/regions.md]":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_page_examples_run[docs/backend.md]":
            "the page's examples train and decode",
        "test_page_examples_run[docs/optimize.md]":
            "the page's examples run egglog and compile",
        "test_page_examples_run[docs/import.md]":
            "the page's examples trace and compile models",
        "test_page_examples_run[docs/checkpoints.md]": "the page loads, draws and decodes a model",
        "test_page_examples_run[docs/generate.md]": "the page's examples compile decoders",
        "test_page_examples_run[docs/sharding.md]": "the page's examples train sharded",
        "test_page_examples_run[docs/moe.md]": "the page's examples compile both forms",
        "test_page_examples_run[docs/encoder_decoder.md]": "the page's examples compile a decoder",
    },
    "tests/topos/test_analysis.py": {
        "test_a_deep_para_is_analysed_on_a_deep_stack": "a 2,000-layer unrolled Para",
    },
    "tests/topos/test_functor.py": {
        "test_a_chain_of_100000_boxes_is_interpreted_without_recursion": "100,000 boxes",
    },
    "tests/topos/test_serial.py": {
        "test_a_chain_of_100000_boxes_round_trips": "100,000 boxes",
    },
    "backends/apps/load.py": {
        "backends.apps.load": "loads, analyses, draws and decodes a model",
    },
    "backends/jax/decoding/generate.py": {
        "backends.jax.decoding.generate": "the module's tour, a cache per architecture",
        "backends.jax.decoding.generate.decode_step": "compiles the model three times",
        "backends.jax.decoding.generate.generate": "test_generate decodes the same way",
    },
    "backends/jax/decoding/sample.py": {
        "backends.jax.decoding.sample": "test_sample samples a transformer the same way",
    },
    "backends/jax/experiments/icl.py": {
        "backends.jax.experiments.icl": "trains the seed's experiment",
        "backends.jax.experiments.icl.recall": "trains on the recall task",
        "backends.jax.experiments.icl.alignment": "trains a model to compare it",
        "backends.jax.experiments.icl.best_eta": "a line search, eagerly",
        "backends.jax.experiments.icl.train": "trains the seed's experiment",
    },
    "backends/jax/experiments/search.py": {
        "backends.jax.experiments.search.candidate":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "backends.jax.experiments.search": "the search, on a real budget",
        "backends.jax.experiments.search.evaluate": "trains every task and seed",
    },
    "backends/jax/interop/penzai.py": {
        "backends.jax.interop.penzai.from_penzai_gpt_neox":
            "a GPT-NeoX in Penzai and in topos, compiled",
        "backends.jax.interop.penzai": "a Llama in Penzai and in topos, op by op",
    },
    "backends/jax/logic/two_level.py": {
        "backends.jax.logic.two_level.explain_two_level":
            "explains a two-level model (test_two_level covers it)",
    },
    "tests/backends/jax/test_model.py": {
        "test_a_small_mlp_trains_with_fit_through_model":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "tests/backends/jax/test_fit_optimize.py": {
        "test_training_optimised_reaches_the_same_losses":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "backends/jax/interop/hf.py": {
        "backends.jax.interop.hf":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "tests/topos/test_normal.py": {
        "test_long_chain_does_not_recurse":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "tests/backends/jax/test_two_level.py": {
        "test_level_one_is_the_attention_pattern_and_level_two_the_frozen_pl_net":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "backends/jax/core/reverse.py": {
        "backends.jax.core.reverse.batched_backward":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "tests/backends/jax/test_facets.py": {
        "test_classify_without_certificates_runs_clarkson_alone":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
        "test_classify_equals_one_lp_per_row":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "backends/jax/core/optimized.py": {
        "backends.jax.core.optimized.optimized":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "backends/jax/core/scan.py": {
        "backends.jax.core.scan":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
    "tests/backends/test_moved.py": {
        "test_an_old_path_named_like_a_verb_does_not_replace_the_verb":
            "one of the fast tier's heavier cases (over 2 s); its module keeps faster tests",
    },
}
# fmt: on


def _names(nodeid: str, entry: str) -> bool:
    return nodeid == entry or nodeid.startswith((entry + "[", entry + "::"))


def _files_given_by_node_id(config: pytest.Config) -> set[str]:
    """Files of which the command line names single tests (only those are collected)."""
    files = set()
    for arg in config.args:
        if "::" in arg:
            path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
            if path.is_relative_to(config.rootpath):
                files.add(path.relative_to(config.rootpath).as_posix())
    return files


@pytest.hookimpl(tryfirst=True)  # before -m deselects by the marks added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    entries = {f"{file}::{name}" for file, names in SLOW.items() for name in names}
    used = set()
    for item in items:
        hits = {entry for entry in entries if _names(item.nodeid, entry)}
        if hits:
            item.add_marker(pytest.mark.slow)
            used |= hits
    whole = {item.nodeid.split("::")[0] for item in items} - _files_given_by_node_id(config)
    stale = sorted(entry for entry in entries - used if entry.split("::")[0] in whole)
    if stale:  # reported as a collection error: pytest stops, as for a file that fails to import
        why = "SLOW names no collected test (renamed? move its entry): " + ", ".join(stale)
        report = pytest.CollectReport("tests/conftest.py", "failed", why, [])
        config.hook.pytest_collectreport(report=report)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker's last garbage collection, done before it reports that it finished.

    Once every worker has reported, xdist closes them, and execnet sends SIGINT to a
    worker still busy 5 s later. pytest's final ``gc.collect()`` calls walk the whole
    heap (over a million objects after the JAX tests, several seconds on a loaded
    machine), so SIGINT used to land in hypothesis's gc callback, and pytest printed
    the ``KeyboardInterrupt`` as an unraisable-exception warning. Collecting here, then
    freezing what survives, leaves those calls nothing to walk.
    """
    if hasattr(session.config, "workerinput"):
        gc.collect()
        gc.freeze()
