"""Fuzzing the importer: mutated models either compile or fail with a BnnError.

Seeds are the committed fixtures (tests/fixtures/*/*.onnx) and small graphs
from tests/builders.py. Mutations are byte-level (flip, insert, delete bytes of
the serialized protobuf) and structured (op_type, dropped node, rewired input
or output, dims, attributes, initializers of the wrong dtype, shape or value,
opsets). `compile_to_memory` runs in-process; any exception other than
`BnnError` is a crash. When a mutant of a small builder graph still compiles,
`verify` runs it beside onnxruntime: the C must compute what the model does.

Examples per test: BNN_FUZZ_EXAMPLES (default: 205 over the four fast tests,
5000 for the `slow` long run; the test that builds C takes a tenth of it). `python tests/test_fuzz.py N` runs N random
mutants outside hypothesis and counts the distinct crashes instead of stopping
at the first.
"""
from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import traceback
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).parent))
from builders import GraphBuilder, larq_mlp, random_bn, signs  # noqa: E402

from bnncompile.compiler import compile_to_memory  # noqa: E402
from bnncompile.errors import BnnError  # noqa: E402

F32 = np.float32
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "tests" / "fixtures").glob("*/*.onnx"))


def examples(default: int, share: float = 1.0) -> int:
    """BNN_FUZZ_EXAMPLES, when set, is the number of examples of each fuzz test
    (`share` of it for the test that builds and runs C); else `default`."""
    value = os.environ.get("BNN_FUZZ_EXAMPLES")
    return max(1, int(int(value) * share)) if value else default


FUZZ = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)

# ------------------------------------------------------------------ seeds


def _builder_graphs() -> dict[str, onnx.ModelProto]:
    rng = np.random.default_rng(1)
    graphs = {"larq_mlp": larq_mlp(rng, sizes=(16, 12, 8, 4)).model()}

    b = GraphBuilder([12])  # PyTorch legacy: Gemm transB, BatchNormalization, Where idiom
    b.where_sign()
    b.node("Gemm", [b.last, b.const(signs(rng, (10, 12))), b.const(rng.normal(size=10).astype(F32))], transB=1)
    b.batchnorm(*random_bn(rng, 10))
    b.where_sign()
    b.node("Gemm", [b.last, b.const(signs(rng, (4, 10)))], transB=1, alpha=0.5)
    graphs["torch_gemm"] = b.model()

    b = GraphBuilder([10])  # plain Sign (ternary), Mul/Sub/Div chains, Relu, Clip
    b.node("Sign", [b.last])
    b.matmul(signs(rng, (10, 8)))
    b.node("Mul", [b.last, b.const(rng.uniform(0.5, 2, 8).astype(F32))])
    b.node("Sub", [b.last, b.const(F32(0.25))])
    b.node("Relu", [b.last])
    b.node("Clip", [b.last, b.const(F32(0)), b.const(F32(3))])
    b.larq_sign()
    b.matmul(signs(rng, (8, 3)))
    b.node("Div", [b.last, b.const(F32(4))])
    graphs["ternary_chain"] = b.model()

    b = GraphBuilder([2, 6, 6])  # small CNN: conv, BN, sign, max pool, flatten, dense
    b.where_sign()
    b.node("Conv", [b.last, b.const(signs(rng, (4, 2, 3, 3)))], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.batchnorm(*random_bn(rng, 4))
    b.where_sign()
    b.node("MaxPool", [b.last], kernel_shape=[2, 2], strides=[2, 2])
    b.node("Flatten", [b.last], axis=1)
    b.matmul(signs(rng, (36, 5)))
    b.node("Softmax", [b.last], axis=-1)
    graphs["cnn"] = b.model()

    b = GraphBuilder([8])  # QONNX BipolarQuant on activations and latent weights
    q = ("qonnx.custom_op.general", 1)
    b.node("BipolarQuant", [b.last, b.const(F32(1))], domain=q[0])
    w = b.node("BipolarQuant", [b.const(rng.normal(size=(8, 6)).astype(F32)), b.const(F32(1))], domain=q[0])
    b.node("MatMul", [b.nodes[0].output[0], w])
    b.batchnorm(*random_bn(rng, 6))
    b.node("BipolarQuant", [b.last, b.const(F32(1))], domain=q[0])
    b.matmul(signs(rng, (6, 3)))
    graphs["qonnx"] = b.model(extra_opsets=[q])

    b = GraphBuilder([12])  # Gemm epilogue (alpha, beta, C), a float64 segment, inference Dropout
    b.where_sign()
    b.node("Gemm", [b.last, b.const(signs(rng, (10, 12))), b.const(rng.normal(size=10).astype(F32))], transB=1,
           alpha=0.3, beta=0.7)
    b.node("Cast", [b.last], to=TensorProto.DOUBLE)
    b.node("Add", [b.last, b.const(rng.normal(size=10))])
    b.node("Sign", [b.last])
    b.node("Cast", [b.last], to=TensorProto.FLOAT)
    b.node("Dropout", [b.last, b.const(np.array(0.5, F32)), b.const(np.array(False))])
    b.matmul(signs(rng, (10, 4)))
    graphs["exactness"] = b.model()
    return graphs


BUILDERS = _builder_graphs()
# checked against onnxruntime when a mutant compiles (QONNX needs no onnxruntime, but is slower)
VERIFIABLE = ["larq_mlp", "torch_gemm", "ternary_chain", "cnn", "exactness"]


@lru_cache(maxsize=None)
def seed_model(name: str) -> onnx.ModelProto:
    """A seed as one self-contained ModelProto (external data loaded inline)."""
    if name in BUILDERS:
        return BUILDERS[name]
    return onnx.load(str(ROOT / name))


@lru_cache(maxsize=None)
def seed_bytes(name: str) -> bytes:
    if name in BUILDERS:
        return BUILDERS[name].SerializeToString()
    return (ROOT / name).read_bytes()


SEEDS = [str(p.relative_to(ROOT)) for p in FIXTURES] + sorted(BUILDERS)

# ------------------------------------------------------------------ mutations
# Each takes a model and `pick(n)` -> an int in [0, n); hypothesis or random draws it.

OPS = ["MatMul", "Gemm", "Add", "Sub", "Mul", "Div", "Neg", "Relu", "Clip", "Sign", "Where", "Not", "Cast",
       "GreaterOrEqual", "Less", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout",
       "Softmax", "BatchNormalization", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Pad", "Concat",
       "Shape", "ConstantOfShape", "Expand", "Tile", "Range", "Gather", "Slice", "Constant", "Tanh", "Loop", "If",
       "Einsum", "BipolarQuant", "NoSuchOp", ""]
DOMAINS = ["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "qonnx.custom_op.general", "onnx.brevitas", "x.y"]
INTS = [-(2 ** 63), -(2 ** 31), -5, -2, -1, 0, 1, 2, 3, 4, 7, 64, 2 ** 31 - 1, 2 ** 40]
FLOATS = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e-45, -1.0, 0.5, 2.0, 3e38]
STRINGS = [b"", b"NOTSET", b"VALID", b"SAME_UPPER", b"SAME_LOWER", b"constant", b"reflect", b"\xff\xfe*/"]
ATTR_NAMES = ["axis", "axes", "perm", "to", "epsilon", "transA", "transB", "alpha", "beta", "kernel_shape",
              "strides", "pads", "group", "dilations", "training_mode", "allowzero", "auto_pad", "ceil_mode",
              "count_include_pad", "min", "max", "value", "start", "end", "mode"]
DTYPES = [np.float16, np.float64, np.int64, np.int32, np.int8, np.uint8, np.bool_]


def _choice(pick, items):
    return items[pick(len(items))]


def _names(model: onnx.ModelProto) -> list[str]:
    g = model.graph
    names = [i.name for i in g.input] + [i.name for i in g.initializer]
    names += [o for n in g.node for o in n.output]
    return names + ["", "nowhere"]


def _random_array(pick) -> np.ndarray:
    shape = _choice(pick, [(), (1,), (3,), (0,), (2, 2), (4, 3), (1, 4, 1, 1)])
    value = _choice(pick, [0.0, 1.0, -1.0, 0.1, float("nan"), float("inf"), 1e38])
    with np.errstate(all="ignore"):
        return np.full(shape, value, dtype=_choice(pick, [F32, F32, np.int64, np.float64]))


def m_op_type(m, pick):
    if m.graph.node:
        _choice(pick, m.graph.node).op_type = _choice(pick, OPS)


def m_domain(m, pick):
    if m.graph.node:
        _choice(pick, m.graph.node).domain = _choice(pick, DOMAINS)


def m_drop_node(m, pick):
    if m.graph.node:
        del m.graph.node[pick(len(m.graph.node))]


def m_duplicate_node(m, pick):
    if m.graph.node:
        m.graph.node.insert(pick(len(m.graph.node)), _choice(pick, m.graph.node))


def m_rewire_input(m, pick):
    nodes = [n for n in m.graph.node if n.input]
    if nodes:
        n = _choice(pick, nodes)
        n.input[pick(len(n.input))] = _choice(pick, _names(m))


def m_add_or_remove_input(m, pick):
    if m.graph.node:
        n = _choice(pick, m.graph.node)
        if n.input and pick(2):
            del n.input[pick(len(n.input))]
        else:
            n.input.append(_choice(pick, _names(m)))


def m_rewire_output(m, pick):
    nodes = [n for n in m.graph.node if n.output]
    if nodes:
        n = _choice(pick, nodes)
        n.output[pick(len(n.output))] = _choice(pick, _names(m))


def m_graph_output(m, pick):
    g = m.graph
    kind = pick(3)
    if kind == 0 and g.output:
        g.output[pick(len(g.output))].name = _choice(pick, _names(m))
    elif kind == 1 and g.output:
        del g.output[pick(len(g.output))]
    else:
        g.output.append(helper.make_tensor_value_info(_choice(pick, _names(m)) or "y", TensorProto.FLOAT, None))


def m_graph_input(m, pick):
    g = m.graph
    kind = pick(4)
    if kind == 0 and g.input:
        g.input[pick(len(g.input))].type.tensor_type.elem_type = _choice(
            pick, [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.BOOL, 0, 99])
    elif kind == 1 and g.input:
        del g.input[pick(len(g.input))]
    elif kind == 2:
        g.input.append(helper.make_tensor_value_info(_choice(pick, _names(m)) or "z", TensorProto.FLOAT, ["N", 4]))
    elif g.input:
        g.input[pick(len(g.input))].name = _choice(pick, _names(m))


def m_dim(m, pick):
    """A dim of the graph input, a value_info or an initializer (dims no longer match the data)."""
    g = m.graph
    kind = pick(3)
    if kind == 0 and g.initializer:
        t = _choice(pick, g.initializer)
        if t.dims and pick(2):
            t.dims[pick(len(t.dims))] = _choice(pick, INTS)
        else:
            t.dims.append(_choice(pick, [0, 1, 2]))
        return
    infos = [v for v in list(g.input) + list(g.value_info) + list(g.output) if v.type.HasField("tensor_type")]
    if not infos:
        return
    shape = _choice(pick, infos).type.tensor_type.shape
    if shape.dim and pick(4):
        d = shape.dim[pick(len(shape.dim))]
        if pick(3):
            d.dim_value = _choice(pick, INTS[2:-1])
        else:
            d.dim_param = "M"
    elif shape.dim and pick(2):
        del shape.dim[pick(len(shape.dim))]
    else:
        shape.dim.add().dim_value = _choice(pick, [1, 2, 3])


def m_attribute(m, pick):
    nodes = list(m.graph.node)
    if not nodes:
        return
    n = _choice(pick, nodes)
    if n.attribute and pick(4):
        a = n.attribute[pick(len(n.attribute))]
        if not pick(6):
            n.attribute.remove(a)
        elif a.type == onnx.AttributeProto.INT:
            a.i = _choice(pick, INTS)
        elif a.type == onnx.AttributeProto.FLOAT:
            a.f = _choice(pick, FLOATS)
        elif a.type == onnx.AttributeProto.INTS:
            kind = pick(3)
            if kind == 0 and a.ints:
                a.ints[pick(len(a.ints))] = _choice(pick, INTS)
            elif kind == 1 and a.ints:
                del a.ints[pick(len(a.ints))]
            else:
                a.ints.append(_choice(pick, INTS))
        elif a.type == onnx.AttributeProto.FLOATS and a.floats:
            a.floats[pick(len(a.floats))] = _choice(pick, FLOATS)
        elif a.type == onnx.AttributeProto.STRING:
            a.s = _choice(pick, STRINGS)
        elif a.type == onnx.AttributeProto.TENSOR:
            a.t.CopyFrom(numpy_helper.from_array(_random_array(pick)))
        else:
            a.type = _choice(pick, [onnx.AttributeProto.INT, onnx.AttributeProto.FLOAT, onnx.AttributeProto.INTS])
        return
    name = _choice(pick, ATTR_NAMES)
    for a in list(n.attribute):
        if a.name == name:
            n.attribute.remove(a)
    kind = pick(5)
    value = [_choice(pick, INTS), _choice(pick, FLOATS), [_choice(pick, INTS) for _ in range(pick(5))],
             _choice(pick, STRINGS), numpy_helper.from_array(_random_array(pick))][kind]
    if kind == 2 and not value:
        value = [0]
    n.attribute.append(helper.make_attribute(name, value))


def m_initializer(m, pick):
    """Replace an initializer: wrong dtype, wrong shape, poisoned values, or broken storage."""
    g = m.graph
    if not g.initializer:
        return
    i = pick(len(g.initializer))
    t = g.initializer[i]
    try:
        a = numpy_helper.to_array(t)
    except Exception:
        return
    kind = pick(6)
    if kind == 0:
        with np.errstate(all="ignore"):
            a = a.astype(_choice(pick, DTYPES))
    elif kind == 1:
        a = _choice(pick, [lambda x: x.T, lambda x: x[None], lambda x: x.reshape(-1), lambda x: x.reshape(-1)[:-1],
                           lambda x: x.reshape(-1)[:0], lambda x: x.reshape(-1)[:1].reshape(()),
                           lambda x: np.concatenate([x, x]) if x.ndim else x])(a)
    elif kind == 2 and a.size and a.dtype.kind == "f":
        a = a.copy()
        a.reshape(-1)[pick(a.size)] = _choice(pick, FLOATS)
    elif kind == 3 and a.size:
        a = a.copy()
        a.reshape(-1)[pick(a.size)] = _choice(pick, [0, 1, -1, 2, 127])
    elif kind == 4:
        t.data_type = _choice(pick, [0, TensorProto.STRING, TensorProto.INT64, TensorProto.FLOAT16, 99])
        return
    elif kind == 5:
        onnx.external_data_helper.set_external_data(t, _choice(pick, ["gone.bin", "../x.bin", "/etc/hostname"]))
        t.data_location = TensorProto.EXTERNAL
        t.ClearField("raw_data")
        return
    new = numpy_helper.from_array(np.ascontiguousarray(a), t.name)
    g.initializer[i].CopyFrom(new)


def m_opset(m, pick):
    kind = pick(3)
    if kind == 0 and m.opset_import:
        m.opset_import[pick(len(m.opset_import))].version = _choice(pick, [1, 6, 7, 9, 11, 13, 17, 18, 21, 99])
    elif kind == 1:
        m.opset_import.append(helper.make_opsetid(_choice(pick, DOMAINS), _choice(pick, [1, 13, 18])))
    else:
        m.ir_version = _choice(pick, [0, 1, 3, 7, 8, 10, 100])


def m_swap_nodes(m, pick):
    nodes = m.graph.node
    if len(nodes) > 1:
        i, j = pick(len(nodes)), pick(len(nodes))
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(nodes[i])
        b.CopyFrom(nodes[j])
        nodes[i].CopyFrom(b)
        nodes[j].CopyFrom(a)


# Attribute values that change what a model computes, for the ops whose arithmetic
# bnncompile models (the Gemm epilogue, geometry, precision, Dropout's mode).
SEMANTIC = {
    "alpha": [1.0, 0.5, 1 / 3, -2.5, 0.1, 0.0, 1e-30, 3e38],
    "beta": [1.0, 0.0, 0.7, -1.0, 1 / 3, 1e30],
    "pads": [0, 1, 2, 3, 1 << 30],
    "strides": [1, 2, 3, 1 << 20],
    "dilations": [1, 2, 3],
    "to": [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT32, TensorProto.BOOL],
    "epsilon": [1e-5, 1e-3, 0.0, 1e3],
}


def m_semantic(m, pick):
    """Change the value of an attribute the compiler models (alpha, beta, pads,
    strides, dilations, the dtype of a Cast, epsilon) or Dropout's training_mode."""
    g = m.graph
    targets = [(n, a) for n in g.node for a in n.attribute if a.name in SEMANTIC]
    dropouts = [n for n in g.node if n.op_type == "Dropout"]
    if dropouts and (not targets or not pick(4)):
        n = _choice(pick, dropouts)
        name = f"training_mode_{len(g.initializer)}"
        g.initializer.append(numpy_helper.from_array(np.array(bool(pick(2))), name))
        while len(n.input) < 2:
            n.input.append("")
        if len(n.input) == 2:
            n.input.append(name)
        else:
            n.input[2] = name
        return
    if not targets:
        return
    n, a = _choice(pick, targets)
    value = _choice(pick, SEMANTIC[a.name])
    if a.type == onnx.AttributeProto.FLOAT:
        a.f = value
    elif a.type == onnx.AttributeProto.INT:
        a.i = int(value)
    elif a.type == onnx.AttributeProto.INTS and a.ints:
        a.ints[pick(len(a.ints))] = int(value)


MUTATIONS = [m_op_type, m_domain, m_drop_node, m_duplicate_node, m_rewire_input, m_add_or_remove_input,
             m_rewire_output, m_graph_output, m_graph_input, m_dim, m_attribute, m_attribute, m_initializer,
             m_initializer, m_opset, m_swap_nodes, m_semantic]


def structured_mutant(seed: str, pick) -> tuple[bytes, list[str]]:
    m = onnx.ModelProto()
    m.CopyFrom(seed_model(seed))
    done = []
    for _ in range(1 + pick(3)):
        mutation = _choice(pick, MUTATIONS)
        mutation(m, pick)
        done.append(mutation.__name__)
    return m.SerializeToString(), done


def byte_mutant(seed: str, pick) -> tuple[bytes, list[str]]:
    data = bytearray(seed_bytes(seed))
    done = []
    for _ in range(1 + pick(8)):
        kind = pick(4)
        pos = pick(len(data) + 1)
        if kind == 0 and pos < len(data):
            data[pos] ^= 1 << pick(8)
        elif kind == 1:
            data[pos:pos] = bytes(pick(256) for _ in range(1 + pick(4)))
        elif kind == 2:
            del data[pos:pos + 1 + pick(16)]
        elif pos < len(data):
            data[pos] = _choice(pick, [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x08, 0x12, 0x1A, 0x3A])
        done.append(f"{['flip', 'insert', 'delete', 'set'][kind]}@{pos}")
    return bytes(data), done


# ------------------------------------------------------------------ running one mutant

class Workdir:
    """One folder per seed with the seed's external data beside the mutant."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="bnn-fuzz-"))

    def model_path(self, seed: str, data: bytes) -> Path:
        folder = self.root / seed.replace("/", "_")
        if not folder.exists():
            folder.mkdir()
            if seed not in BUILDERS:
                for extra in (ROOT / seed).parent.glob(Path(seed).name + ".data"):
                    shutil.copy(extra, folder / extra.name)
        path = folder / Path(seed).name if seed not in BUILDERS else folder / f"{seed}.onnx"
        path.write_bytes(data)
        return path


def compile_or_refuse(path: Path):
    """The contract: the compiled model, or None when refused with a BnnError."""
    try:
        return compile_to_memory(path, name="net")
    except BnnError as exc:
        assert str(exc).strip(), "empty error message"
        return None


@pytest.fixture(scope="module")
def workdir():
    w = Workdir()
    yield w
    shutil.rmtree(w.root, ignore_errors=True)


def drawer(data):
    return lambda n: data.draw(st.integers(0, max(n - 1, 0)))


# ------------------------------------------------------------------ tests


@settings(max_examples=examples(70), **FUZZ)
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_byte_mutations_compile_or_fail_cleanly(workdir, seed, data):
    mutant, done = byte_mutant(seed, drawer(data))
    note(f"{seed}: {done}")
    compile_or_refuse(workdir.model_path(seed, mutant))


@settings(max_examples=examples(70), **FUZZ)
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_structured_mutations_compile_or_fail_cleanly(workdir, seed, data):
    mutant, done = structured_mutant(seed, drawer(data))
    note(f"{seed}: {done}")
    compile_or_refuse(workdir.model_path(seed, mutant))


@settings(max_examples=examples(45), **FUZZ)
@given(seed=st.sampled_from(sorted(BUILDERS)), data=st.data())
def test_mutants_of_small_graphs_compile_or_fail_cleanly(workdir, seed, data):
    pick = drawer(data)
    mutant, done = structured_mutant(seed, pick) if pick(3) else byte_mutant(seed, pick)
    note(f"{seed}: {done}")
    compile_or_refuse(workdir.model_path(seed, mutant))


def _verify_mutant(path: Path, compiled, samples: int = 8) -> bool:
    """A mutant that compiled must compute what onnxruntime computes. False when
    onnxruntime refuses the model (a model we accept but it does not: no question of exactness)."""
    from bnncompile.inputs import random_inputs
    from bnncompile.validate import Reference, verify

    try:
        Reference(path)
    except Exception:
        return False
    shape = compiled.graph.tensors[compiled.graph.inputs[0]].shape
    try:
        report = verify(compiled, random_inputs(shape, samples))
    except BnnError as exc:  # onnxruntime loads the model but refuses to run it
        if "the reference" not in str(exc):
            raise
        return False
    # INCONCLUSIVE is an honest answer (ties, rounding ambiguity); FAIL never is
    assert report.status != "FAIL", report.verdict()
    return True


@settings(max_examples=examples(20, share=0.1), **FUZZ)
@given(seed=st.sampled_from(VERIFIABLE), data=st.data())
def test_mutants_that_compile_compute_the_mutated_model(workdir, seed, data):
    """Attribute and initializer mutations keep most small graphs compilable: the C must then match."""
    pick = drawer(data)
    m = onnx.ModelProto()
    m.CopyFrom(seed_model(seed))
    mutation = _choice(pick, [m_attribute, m_initializer, m_initializer, m_swap_nodes, m_drop_node])
    mutation(m, pick)
    note(f"{seed}: {mutation.__name__}")
    path = workdir.model_path(seed, m.SerializeToString())
    compiled = compile_or_refuse(path)
    if compiled is not None:
        _verify_mutant(path, compiled)


@settings(max_examples=examples(15, share=0.1), **FUZZ)
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_semantic_attribute_mutations_are_exact_or_refused(workdir, seed, data):
    """alpha, beta, pads, strides, dilations, Cast dtypes, epsilon and Dropout's
    training_mode of the real fixtures and the small graphs, changed: the model
    either compiles to C that verify does not FAIL against onnxruntime, or is refused."""
    pick = drawer(data)
    m = onnx.ModelProto()
    m.CopyFrom(seed_model(seed))
    for _ in range(1 + pick(2)):
        m_semantic(m, pick)
    path = workdir.model_path(seed, m.SerializeToString())
    compiled = compile_or_refuse(path)
    if compiled is not None:
        _verify_mutant(path, compiled)


@pytest.mark.slow
@settings(max_examples=examples(5000), **FUZZ)
@given(seed=st.sampled_from(SEEDS), structured=st.booleans(), data=st.data())
def test_long_fuzz(workdir, seed, structured, data):
    mutant, done = (structured_mutant if structured else byte_mutant)(seed, drawer(data))
    note(f"{seed}: {done}")
    compile_or_refuse(workdir.model_path(seed, mutant))


# ------------------------------------------------------------------ counting driver

def main(n: int, seed: int = 0, verify_every: int = 0) -> int:
    """N random mutants; prints each distinct crash (type, place) once and returns their count."""
    import time
    import warnings

    rng = random.Random(seed)
    pick = lambda k: rng.randrange(max(k, 1))  # noqa: E731
    w = Workdir()
    crashes: dict[tuple, str] = {}
    refused = compiled_n = verified = 0
    unverifiable: list[str] = []
    warned: dict[str, int] = {}
    start = time.time()
    try:
        for i in range(n):
            s = rng.choice(SEEDS)
            mutant, done = (structured_mutant if rng.random() < 0.6 else byte_mutant)(s, pick)
            path = w.model_path(s, mutant)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    compiled = compile_or_refuse(path)
                except Exception as exc:  # noqa: BLE001
                    tb = traceback.extract_tb(exc.__traceback__)[-1]
                    key = (type(exc).__name__, tb.filename, tb.lineno)
                    if key not in crashes:
                        crashes[key] = f"{s} {done}: {type(exc).__name__}: {str(exc)[:200]}"
                        print(f"CRASH {key}\n   {crashes[key]}", flush=True)
                    continue
            for wmsg in caught:
                where = f"{Path(wmsg.filename).name}:{wmsg.lineno}: {wmsg.message}"
                warned[where] = warned.get(where, 0) + 1
            if compiled is None:
                refused += 1
                continue
            compiled_n += 1
            if verify_every and s in VERIFIABLE and compiled_n % verify_every == 0:
                if _verify_mutant(path, compiled):
                    verified += 1
                else:
                    unverifiable.append(f"{s} {done}")
    finally:
        shutil.rmtree(w.root, ignore_errors=True)
    print(f"{n} mutants in {time.time() - start:.0f} s: {compiled_n} compiled ({verified} verified), "
          f"{refused} refused with BnnError, {len(crashes)} distinct crashes")
    for what in unverifiable:
        print(f"  compiled, but onnxruntime refuses it: {what}")
    for where, count in sorted(warned.items(), key=lambda kv: -kv[1]):
        print(f"  warning x{count}: {where}")
    return len(crashes)


if __name__ == "__main__":
    sys.exit(1 if main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
                       int(sys.argv[2]) if len(sys.argv) > 2 else 0,
                       int(sys.argv[3]) if len(sys.argv) > 3 else 0) else 0)
