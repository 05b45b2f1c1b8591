"""JSON round trips of objects, arrows and Para; the schema; errors naming node and field."""

import json
import math
import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topos import Box, Fin, Id, Omega, One, R, compose, curry, fst, pair, snd
from topos.arrows import Compose
from topos.para import Global, Para, glorot_uniform, normal, repeat, zeros
from topos.serial import VERSION, dumps, from_json, loads, to_json
from topos.testing import arrows, composable, objects

# Box attributes: every JSON-able hashable kind, nested in tuples, objects and arrows.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
values = st.recursive(
    st.one_of(scalars, objects(max_depth=1)),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=6,
)
attrs = st.dictionaries(st.sampled_from(["kind", "scale", "axes", "body", "eps"]), values)


def same(x: object, y: object) -> bool:
    """Equality that also holds for NaN attributes (NaN != NaN as a float)."""
    return x == y or dumps(x) == dumps(y)


@given(objects(max_depth=3))
def test_objects_round_trip(x):
    assert loads(dumps(x)) == x
    assert from_json(json.loads(json.dumps(to_json(x)))) == x


@given(objects(max_depth=1), objects(max_depth=1), st.data())
def test_arrows_round_trip(a, b, data):
    f = data.draw(arrows(a, b, attrs=attrs))
    g = loads(dumps(f))
    assert g == f and same(g, f)
    assert (g.dom, g.cod) == (f.dom, f.cod)
    assert str(g) == str(f)


@given(composable(3))
def test_composites_round_trip(fs):
    chain = compose(*fs)
    assert loads(dumps(chain)) == chain
    assert loads(dumps(pair(chain, chain))) == pair(chain, chain)


@given(values)
def test_attribute_values_round_trip(v):
    box = Box("f", R(1), R(1), v=v)
    back = loads(dumps(box)).attrs["v"]
    assert type(back) is type(v)
    assert back == v or dumps(Box("f", R(1), R(1), v=back)) == dumps(box)


def test_arrows_inside_attributes_round_trip():
    A = R(3)
    body = Box("h", A, A, scale=0.5) >> Box("k", A, A)
    rep = Box("repeat", R(4, 3) * A, A, body=body, n=4, nested=(body, (A, One)))
    back = loads(dumps(rep))
    assert back == rep and back.attrs["body"] == body
    assert isinstance(back.attrs["nested"][0], Compose)


def test_non_finite_floats_are_tagged_and_text_is_strict_json():
    box = Box("f", R(1), R(1), lo=-math.inf, hi=math.inf, bad=math.nan)
    text = dumps(box)
    assert "Infinity" not in text and "NaN" not in text
    attrs = json.loads(text)["nodes"][-1]["attrs"]
    assert attrs == {"bad": {"float": "nan"}, "hi": {"float": "inf"}, "lo": {"float": "-inf"}}
    back = loads(text).attrs
    assert math.isnan(back["bad"]) and back["hi"] == math.inf and back["lo"] == -math.inf


def test_nan_and_typed_attributes_round_trip_equal():
    for v in (math.nan, (1, math.nan), 1, True, 1.0, -0.0):
        box = Box("f", R(1), R(1), k=v)
        back = loads(dumps(box))
        assert back == box and hash(back) == hash(box)
    assert loads(dumps(Box("f", R(1), R(1), k=1))) != Box("f", R(1), R(1), k=1.0)


def test_schema_of_each_kind():
    A, B = R(2), Fin(5, 3)
    f = Box("f", A, B, k=1)
    doc = to_json(curry(Box("m", A * B, Omega)) >> Box("g", Omega**B, One))
    assert doc["topos"] == VERSION == 2
    kinds = [n["kind"] for n in doc["nodes"]]
    assert kinds[doc["root"]] == "compose"
    assert {"R", "Fin", "product", "exp", "Omega", "One", "box", "curry", "compose"} <= set(kinds)
    for node in doc["nodes"]:  # references point to earlier nodes only
        for key in ("left", "right", "dom", "cod", "base", "exponent", "arrow"):
            if key in node:
                assert node[key] < doc["nodes"].index(node)
    assert to_json(f)["nodes"][-1] == {
        "kind": "box",
        "name": "f",
        "dom": 0,
        "cod": 1,
        "attrs": {"k": 1},
    }
    assert to_json(Fin(5, 3))["nodes"] == [{"kind": "Fin", "n": 5, "shape": [3]}]
    assert to_json(fst(A, B))["nodes"][-1] == {"kind": "fst", "obs": [0, 1]}


def test_shared_parts_are_stored_once():
    A = R(3)
    big = R(7) * (R(8) + R(9) ** R(10))
    f = Box("f", big, big)
    g = pair(f >> f, f) >> fst(big, big)
    doc = to_json(pair(g, g))
    # one node per distinct object and arrow: big's 7 objects, f, f >> f, pair, fst, g, top
    assert len(doc["nodes"]) == 7 + 6
    assert sum(1 for n in doc["nodes"] if n["kind"] == "box") == 1
    assert to_json(A * A)["nodes"] == [
        to_json(A)["nodes"][0],
        {"kind": "product", "left": 0, "right": 0},
    ]


def test_identities_inside_a_chain_survive():
    A = R(2)
    f = Box("f", A, A)
    chain = Compose(Compose(Id(A), f), Id(A))  # built without >>, which drops identities
    back = loads(dumps(chain))
    assert back == chain and back != f
    assert [type(x).__name__ for x in back.children] == ["Id", "Box", "Id"]


def test_a_chain_of_100000_boxes_round_trips():
    A = R(3)
    chain = Box("f0", A, A)
    for i in range(1, 100_000):
        chain = chain >> Box(f"f{i}", A, A)
    text = dumps(chain)
    # R(3), each box once, one compose node listing the chain
    assert text.count('"kind":"box"') == 100_000 and text.count('"kind":"compose"') == 1
    back = loads(text)
    assert back == chain and hash(back) == hash(chain)


def test_para_round_trips():
    A, B, C = R(3), R(4), R(2)
    f = Para(R(3, 4), Box("matmul", R(3, 4) * A, B), params={"w": glorot_uniform})
    g = Para(
        R(4, 2) * R(2),
        Box("affine", (R(4, 2) * R(2)) * B, C),
        params={"w": normal(0.02), "b": zeros},
    )
    net = f.named("l1") >> Box("relu", B, B) >> g.named("l2")
    block = Para(R(3, 3), Box("matmul", R(3, 3) * A, A), params={"w": normal(0.1)})
    E, X, W = R(5, 5), R(5, 3), R(3, 3)
    G = Global(E)
    layer = Para(
        W,
        G.then(G.act_on(W, Box("propagate", E * X, X)), G.embed(Box("matmul", W * X, X))),
        params={"w": glorot_uniform},
        actegory=G,
    )
    for p in [f, net, net.freeze("l1.w"), repeat(block, 4), layer.named("a") >> layer.named("b")]:
        back = loads(dumps(p))
        assert back == p
        assert back.parameters() == p.parameters() and back.constants() == p.constants()
        assert back.actegory == p.actegory
    doc = to_json(repeat(block, 4))
    top = doc["nodes"][doc["root"]]
    assert top["kind"] == "para" and top["actegory"] == {"kind": "cartesian"}
    assert top["params"][0]["init"] == {"kind": "normal", "args": [0.1]}
    assert top["params"][0]["stacked"] == 1


def test_dumps_rejects_what_json_cannot_hold():
    with pytest.raises(TypeError, match=r"box 'f': attribute table = frozenset"):
        dumps(Box("f", R(1), R(1), table=frozenset({1})))
    with pytest.raises(TypeError, match="cannot serialise int 3"):
        dumps(3)


def test_dumps_indent_is_readable_and_loads():
    f = Box("f", R(1), R(2))
    text = dumps(f, indent=2)
    assert "\n" in text and loads(text) == f


# -- malformed and ill-typed documents: ValueError naming the node and the field ------------

R3 = {"kind": "R", "shape": [3], "dtype": "float32"}
R4 = {"kind": "R", "shape": [4], "dtype": "float32"}


def doc(*nodes, root=None):
    return {"topos": 1, "nodes": list(nodes), "root": len(nodes) - 1 if root is None else root}


@pytest.mark.parametrize(
    "document, message",
    [
        ([1], "document: expected a JSON object, got list"),
        ({"topos": 1, "nodes": [R3]}, "document: missing field 'root'"),
        ({"topos": 1, "nodes": [R3], "root": 0, "x": 1}, "document: unexpected field 'x'"),
        ({"topos": 3, "nodes": [R3], "root": 0}, "field 'topos': .* versions 1 and 2, got 3"),
        ({"topos": True, "nodes": [R3], "root": 0}, "field 'topos'"),
        ({"topos": 1, "nodes": [], "root": 0}, "field 'nodes': expected a non-empty list"),
        (doc(R3, root=1), "field 'root': expected a node index 0 to 0, got 1"),
        (doc(R3, root="0"), "field 'root'"),
        (doc(5), "node 0: expected a JSON object, got 5"),
        (doc({"kind": "tensorr"}), "node 0: field 'kind': unknown kind 'tensorr'"),
        (doc({"shape": [3]}), "node 0: field 'kind': unknown kind None"),
        (doc({"kind": "R", "shape": [3]}), r"node 0 \(R\): missing field 'dtype'"),
        (doc({**R3, "size": 3}), r"node 0 \(R\): unexpected field 'size'"),
        (doc({**R3, "shape": [3.0]}), r"node 0 \(R\): field 'shape': expected a list of ints"),
        (doc({**R3, "shape": [-1]}), r"node 0 \(R\): ill-typed: R: shape entries"),
        (doc({**R3, "dtype": "int8"}), r"node 0 \(R\): ill-typed: R: dtype must be one of"),
        (
            doc({"kind": "Fin", "n": "5", "shape": []}),
            r"node 0 \(Fin\): field 'n': expected an int",
        ),
        (
            doc(R3, {"kind": "product", "left": 0, "right": 1}),
            r"node 1 \(product\): field 'right': expected the index of an earlier node \(0 to 0\)",
        ),
        (
            doc({"kind": "product", "left": 0, "right": 0}),
            r"node 0 \(product\): field 'left': expected the index of an earlier node \(none yet\)",
        ),
        (
            doc(R3, {"kind": "box", "name": "f", "dom": 0, "cod": True, "attrs": {}}),
            r"node 1 \(box\): field 'cod': expected the index of an earlier node",
        ),
        (
            doc(R3, {"kind": "box", "name": 7, "dom": 0, "cod": 0, "attrs": {}}),
            r"node 1 \(box\): field 'name': expected a string, got 7",
        ),
        (
            doc(R3, {"kind": "box", "name": "", "dom": 0, "cod": 0, "attrs": {}}),
            r"node 1 \(box\): ill-typed: Box: name must be a non-empty string",
        ),
        (
            doc(R3, {"kind": "box", "name": "f", "dom": 0, "cod": 0, "attrs": []}),
            r"node 1 \(box\): field 'attrs': expected a JSON object",
        ),
        (
            doc(R3, {"kind": "box", "name": "f", "dom": 0, "cod": 0, "attrs": {"k": {"x": 1}}}),
            r"node 1 \(box\): field 'attrs.k': expected null, a bool, number",
        ),
        (
            doc(R3, {"kind": "box", "name": "f", "dom": 0, "cod": 0, "attrs": {"k": {"node": 5}}}),
            r"node 1 \(box\): field 'attrs.k': expected the index of an earlier node",
        ),
        (
            doc(
                R3,
                {"kind": "box", "name": "f", "dom": 0, "cod": 0, "attrs": {"k": {"float": "1e9"}}},
            ),
            r"node 1 \(box\): field 'attrs.k'",
        ),
        (
            doc(R3, {"kind": "box", "name": "f", "dom": 0, "cod": 0, "attrs": {"name": 1}}),
            r"node 1 \(box\): ill-typed: .*name",
        ),
        (
            doc(
                R3,
                {"kind": "box", "name": "f", "dom": 0, "cod": 0, "attrs": {}},
                {"kind": "product", "left": 0, "right": 1},
            ),
            r"node 2 \(product\): field 'right': node 1 is an arrow, expected an object",
        ),
        (
            doc(R3, {"kind": "curry", "arrow": 0}),
            r"node 1 \(curry\): field 'arrow': node 0 is an object, expected an arrow",
        ),
        (
            doc(R3, {"kind": "fst", "obs": [0]}),
            r"node 1 \(fst\): field 'obs': expected a list of 2 node indices, got \[0\]",
        ),
        (
            doc(R3, {"kind": "id", "obs": ["a"]}),
            r"node 1 \(id\): field 'obs\[0\]': expected the index of an earlier node",
        ),
        (
            doc({"kind": "logic", "op": "xor"}),
            r"node 0 \(logic\): ill-typed: Logic: unknown connective 'xor'",
        ),
        (
            doc(
                R3,
                R4,
                {"kind": "box", "name": "f", "dom": 0, "cod": 1, "attrs": {}},
                {"kind": "compose", "arrows": [2, 2]},
            ),
            r"node 3 \(compose\): ill-typed: f >> f: codomain R\(4\) does not match domain R\(3\)",
        ),
        (
            doc(R3, {"kind": "id", "obs": [0]}, {"kind": "compose", "arrows": [1]}),
            r"node 2 \(compose\): field 'arrows': a composite lists at least 2 arrows, got 1",
        ),
        (
            doc(
                R3,
                R4,
                {"kind": "box", "name": "f", "dom": 0, "cod": 1, "attrs": {}},
                {"kind": "box", "name": "g", "dom": 0, "cod": 0, "attrs": {}},
                {"kind": "pair", "left": 2, "right": 3},
                {"kind": "copair", "left": 2, "right": 3},
            ),
            r"node 5 \(copair\): ill-typed: copair\(f, g\): codomain R\(4\) of the first",
        ),
        (
            doc(R3, {"kind": "id", "obs": [0]}, {"kind": "curry", "arrow": 1}),
            r"node 2 \(curry\): ill-typed: curry\(id\): expected an arrow out of a product",
        ),
    ],
)
def test_malformed_documents_name_the_node_and_field(document, message):
    with pytest.raises(ValueError, match=message):
        from_json(document)


def test_malformed_para_documents():
    p = Para(R(2), Box("f", R(2) * R(3), R(3)), params={"w": zeros})
    good = to_json(p)
    top = good["root"]

    def broken(**changes):
        d = json.loads(json.dumps(good))
        d["nodes"][top].update(changes)
        return d

    param = good["nodes"][top]["params"][0]
    with pytest.raises(ValueError, match=r"\(para\): field 'actegory'"):
        from_json(broken(actegory={"kind": "monoidal"}))
    with pytest.raises(ValueError, match=r"\(para\): field 'params': expected a list"):
        from_json(broken(params={}))
    with pytest.raises(ValueError, match=r"field 'params\[0\]': expected an object with fields"):
        from_json(broken(params=[{"path": "w"}]))
    with pytest.raises(ValueError, match=r"field 'params\[0\].init.args': expected a list"):
        from_json(broken(params=[{**param, "init": {"kind": "zeros", "args": 0}}]))
    with pytest.raises(ValueError, match=r"\(para\): ill-typed: Init: unknown kind 'gaussian'"):
        from_json(broken(params=[{**param, "init": {"kind": "gaussian", "args": []}}]))
    with pytest.raises(ValueError, match=r"\(para\): ill-typed: .*declared R\(3\)"):
        from_json(broken(params=[{**param, "ob": 1}]))  # node 1 is R(3), the leaf is R(2)
    with pytest.raises(ValueError, match=r"field 'params\[0\].ob': node 3 is an arrow"):
        from_json(broken(params=[{**param, "ob": 3}]))


def test_loads_errors():
    with pytest.raises(ValueError, match="loads: not JSON"):
        loads("{")
    with pytest.raises(ValueError, match="loads: not JSON: nested too deeply"):
        loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TypeError, match="loads: expected a JSON string, got dict"):
        loads({"topos": 1})  # type: ignore[arg-type]
    deep = doc(R3, {"kind": "box", "name": "f", "dom": 0, "cod": 0, "attrs": {"k": [[[0]]]}})
    assert loads(json.dumps(deep)).attrs["k"] == (((0,),),)
    nested = "[" * 200 + "]" * 200
    text = json.dumps(doc(R3, {"kind": "box", "name": "f", "dom": 0, "cod": 0, "attrs": {}}))
    with pytest.raises(ValueError, match="field 'attrs.k': nested deeper than 100"):
        loads(text.replace('"attrs": {}', f'"attrs": {{"k": {nested}}}'))


def test_loading_never_evaluates_code():
    evil = doc({"kind": "R", "shape": [3], "dtype": "__import__('os').system('false')"})
    with pytest.raises(ValueError, match="dtype must be one of"):
        from_json(evil)
    text = json.dumps(
        doc(R3, {"kind": "box", "name": "__import__('os')", "dom": 0, "cod": 0, "attrs": {}})
    )
    assert loads(text).name == "__import__('os')"  # a name is data, never run


def test_groups_repeats_layers_and_constants_round_trip():
    from topos.arrows import ArrayData, Const, Layer, Repeat, group
    from topos.para import Frozen, normal

    A = R(3)
    body = group("blk", snd(R(3, 3), A) >> Box("h", A, A), role="mlp")
    table = ArrayData((2, 3), "float32", bytes(range(24)))
    consts = [
        Const(A, (1.0, 2.0, 3.0)),
        Const(R(2, 3), table, "table"),
        Const(R(3, 3), Frozen("enc.w", normal(0.02), 1, value=table), "enc.w"),
        Const(R(), math.inf),
    ]
    for x in [Repeat(body, 4), Layer(R(3, 3) * A, 2, 1), *consts, curry(Repeat(body, 2))]:
        back = loads(dumps(x))
        assert back == x and type(back) is type(x)
    assert loads(dumps(consts[1])).value.data == bytes(range(24))
    kinds = [n["kind"] for n in to_json(Repeat(body, 4))["nodes"]]
    assert kinds[-2:] == ["group", "repeat"]


def test_version_1_documents_load_as_constructors():
    from topos.arrows import Const, Group, Repeat
    from topos.para import Frozen, normal

    A = R(3)
    body = Box("h", R(3, 3) * A, A)
    doc = to_json(Box("repeat", R(4, 3, 3) * A, A, body=Box("blk", body.dom, A, body=body), n=4))
    doc["topos"] = 1
    back = from_json(doc)
    assert back == Repeat(Group("blk", body), 4)
    old_const = Box("const", One, A, path="w", init=("normal", 0.5), stacked=0)
    doc = to_json(old_const)
    doc["topos"] = 1
    assert from_json(doc) == Const(A, Frozen("w", normal(0.5)), "w")
    doc = to_json(Box("bad", A, R(2), body=Box("h", A, A)))
    doc["topos"] = 1
    with pytest.raises(ValueError, match="its body has type"):
        from_json(doc)
    doc = to_json(Repeat(Group("blk", body), 2))
    doc["topos"] = 1
    with pytest.raises(ValueError, match="unknown kind 'group' in schema version 1"):
        from_json(doc)


def test_constants_round_trip_by_the_bits_of_their_values():
    from topos.arrows import Const

    for v in (math.nan, -0.0, 0.0, math.inf, (1.0, math.nan, -0.0)):
        c = Const(R(3) if isinstance(v, tuple) else R(), v)
        back = loads(dumps(c))
        assert back == c and hash(back) == hash(c)
    assert loads(dumps(Const(R(), -0.0))) != Const(R(), 0.0)


def _const_doc(value: object) -> str:
    nodes = [{"kind": "R", "shape": [3], "dtype": "float32"}]
    nodes.append({"kind": "const", "cod": 0, "name": "c", "value": value})
    return json.dumps({"topos": VERSION, "nodes": nodes, "root": 1})


@pytest.mark.parametrize(
    "value, message",
    [
        ({"array": {"shape": [10**12], "dtype": "float64", "base64": "AAAAAAAAAAA="}},
         r"node 1 \(const\): .*shape \(1000000000000,\) of float64 takes 8000000000000 bytes"),
        ({"array": {"shape": [1], "dtype": "float99", "base64": "AAAAAAAAAAA="}},
         "node 1 .*dtype must be one of .* got 'float99'"),
        ({"array": {"shape": [1], "dtype": "object", "base64": "AAAAAAAAAAA="}},
         "node 1 .*dtype must be one of .* got 'object'"),
        ({"array": {"shape": [2], "dtype": "float32", "base64": "AAAAAAAAAAA="}},
         r"node 1 .*does not fit the object R\(3\): shape \(2,\)"),
        ([1.0, 2.0], r"node 1 .*does not fit the object R\(3\): shape \(2,\)"),
        (["a", 1.0, 2.0], "node 1 .*the entry 'a' is not a real number"),
    ],
)  # fmt: skip
def test_constants_are_checked_when_loaded(value, message):
    with pytest.raises(ValueError, match=message):
        loads(_const_doc(value))


def test_a_version_1_repeat_without_its_count_is_refused_by_name():
    A = R(3)
    body = Box("h", R(4, 3, 3) * A, A)
    doc = to_json(Box("repeat", body.dom, A, body=Box("blk", body.dom, A, body=body)))
    doc["topos"] = 1
    with pytest.raises(ValueError, match="box 'repeat': attribute 'n'"):
        from_json(doc)
    doc = to_json(Box("repeat", body.dom, A, body=Box("blk", body.dom, A, body=body), n="4"))
    doc["topos"] = 1
    with pytest.raises(ValueError, match="box 'repeat': attribute 'n'"):
        from_json(doc)


# ---------------------------------------------------------------------------------
# Fuzzing loads: mutated documents load or raise a clean ValueError, quickly

# Bounded under CI (the hypothesis profile); ``TOPOS_FUZZ=N`` runs N cases.
FUZZ = int(os.environ.get("TOPOS_FUZZ", "0"))
fuzz_settings = settings(max_examples=FUZZ) if FUZZ else settings()
KINDS = ["R", "Fin", "One", "Zero", "product", "coproduct", "exp", "box", "id", "fst", "pair"]
KINDS += ["compose", "curry", "tensor", "copair", "ev", "logic", "para", "swap", "inl"]
KINDS += ["group", "repeat", "layer", "const"]
junk = st.one_of(
    st.integers(-3, 40),
    st.sampled_from([2**70, -(2**70), 1.5, True, None, "", "x", [], {}, [0], {"node": 0}]),
    st.lists(st.integers(-1, 40), max_size=4),
    st.sampled_from(KINDS),
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The text of a real document with a few random edits (fields, refs, kinds, sharing)."""
    doc = to_json(compose(*draw(composable(2))))
    nodes = doc["nodes"]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "drop", "add", "kind", "root", "double", "copy"]))
        i = draw(st.integers(0, len(nodes) - 1))
        node = nodes[i]
        fields = sorted(node)
        if op in ("set", "drop") and not fields:
            continue
        if op == "set":
            node[draw(st.sampled_from(fields))] = draw(junk)
        elif op == "drop":
            node.pop(draw(st.sampled_from(fields)))
        elif op == "add":
            node[draw(st.sampled_from(["extra", "left", "arrows", "obs"]))] = draw(junk)
        elif op == "kind":
            node["kind"] = draw(st.sampled_from(KINDS))
        elif op == "root":
            doc["root"] = draw(junk)
        elif op == "copy":
            nodes.append(dict(node))
        else:  # a sharing bomb: each new node uses the previous one twice
            kind = draw(st.sampled_from(["product", "exp", "pair", "tensor", "compose"]))
            for _ in range(draw(st.integers(1, 70))):
                k = len(nodes) - 1
                two = {"exp": ("base", "exponent")}.get(kind, ("left", "right"))
                new = {"kind": kind, "arrows": [k, k]} if kind == "compose" else {}
                new = new or {"kind": kind, two[0]: k, two[1]: k}
                nodes.append(new)
            doc["root"] = len(nodes) - 1
    text = json.dumps(doc)
    if draw(st.booleans()) and draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


FUZZ_COUNT = {"cases": 0, "loaded": 0}


@fuzz_settings
@given(mutated())
def test_loads_on_mutated_documents_is_clean_and_quick(text):
    start = time.perf_counter()
    FUZZ_COUNT["cases"] += 1
    try:
        value = loads(text)
        FUZZ_COUNT["loaded"] += 1
    except ValueError:
        value = None
    if value is not None:  # what loads accepts, the core handles in bounded time
        assert value == loads(text) and loads(dumps(value)) == value
        str(value)
    assert time.perf_counter() - start < 20, text[:200]


def test_loads_refuses_sharing_bombs_naming_the_limit():
    nodes = [{"kind": "R", "shape": [1], "dtype": "float32"}]
    nodes += [{"kind": "product", "left": i, "right": i} for i in range(60)]
    with pytest.raises(ValueError, match="MAX_OBJECT_PARTS"):
        loads(json.dumps({"topos": 1, "nodes": nodes, "root": 60}))
    # arrows double too: pair doubles the codomain, compose the chain
    arrows_ = [nodes[0], {"kind": "id", "obs": [0]}]
    arrows_ += [{"kind": "compose", "arrows": [i + 1, i + 1]} for i in range(60)]
    with pytest.raises(ValueError, match="MAX_ARROW_PARTS"):
        loads(json.dumps({"topos": 1, "nodes": arrows_, "root": 61}))
    pairs = [nodes[0], {"kind": "id", "obs": [0]}]
    pairs += [{"kind": "pair", "left": i + 1, "right": i + 1} for i in range(60)]
    with pytest.raises(ValueError, match="MAX_OBJECT_PARTS"):
        loads(json.dumps({"topos": 1, "nodes": pairs, "root": 61}))
