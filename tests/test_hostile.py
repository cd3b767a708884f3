"""Hostile input through the command line: every bad file gives exit status 2,
one line `bnncompile: error: ...` saying what is wrong and where, and writes
nothing (no output folder, no staging folder left beside it)."""
from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from builders import GraphBuilder, larq_mlp, random_bn, signs
from conftest import FIXTURES, run_cli
from onnx import TensorProto, external_data_helper, helper

F32 = np.float32
LARQ = FIXTURES / "larq" / "larq_mlp_op13.onnx"
TORCH_CNN = FIXTURES / "torch" / "torch_cnn_legacy.onnx"
DYNAMO = FIXTURES / "torch" / "torch_dynamo_where.onnx"


@dataclass
class Case:
    make: Callable[[Path], Path]  # writes the bad model into a folder, returns its path
    match: str  # regex the message must contain (what, and where when there is a node)
    multiline: bool = False  # the list of unsupported nodes is one line per node


CASES: dict[str, Case] = {}


def case(name, match, multiline=False):
    def register(make):
        CASES[name] = Case(make, match, multiline)
        return make
    return register


def saved(d: Path, b: GraphBuilder, **kw) -> Path:
    return Path(b.save(d / "bad.onnx", **kw))


def saved_model(d: Path, m: onnx.ModelProto) -> Path:
    onnx.save(m, d / "bad.onnx")
    return d / "bad.onnx"


def written(d: Path, data: bytes, name="bad.onnx") -> Path:
    (d / name).write_bytes(data)
    return d / name


def relu_graph(shape=(4,)):
    b = GraphBuilder(list(shape))
    b.node("Relu", ["x"])
    return b


def mlp(rng=None):
    rng = rng or np.random.default_rng(0)
    b = GraphBuilder([6])
    b.matmul(signs(rng, (6, 5)))
    b.batchnorm(*random_bn(rng, 5))
    b.where_sign()
    return b


# ------------------------------------------------------------------ not ONNX at all

case("random bytes", r"is not an ONNX model")(
    lambda d: written(d, np.random.default_rng(1).bytes(4096)))
case("PNG header", r"is not an ONNX model")(
    lambda d: written(d, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + np.random.default_rng(2).bytes(200)))
case("text file", r"is not an ONNX model")(
    lambda d: written(d, "ir_version: 8\ngraph { node { op_type: 'Relu' } }\n".encode()))
case("empty file", r"is empty")(lambda d: written(d, b""))
case("no such file", r"no such file")(lambda d: d / "missing.onnx")
case("a directory", r"is a directory")(lambda d: (d / "dir.onnx").mkdir() or d / "dir.onnx")
case("protobuf without a graph", r"not an ONNX model \(no ir_version, graph or opset\)")(
    lambda d: written(d, onnx.ModelProto(ir_version=8, producer_name="x").SerializeToString()))


def _non_utf8(d):
    data = bytearray(relu_graph().model().SerializeToString())
    at = bytes(data).index(b"Relu_1")
    data[at + 5] = 0xFF  # node name "Relu_\xff": proto2 strings must be UTF-8
    return written(d, bytes(data))


case("node name that is not UTF-8", r"'name' holds text that is not UTF-8")(_non_utf8)


# ------------------------------------------------------------------ truncated real files

for _frac in (0.0005, 0.01, 0.3, 0.5, 0.9, 0.999):
    case(f"truncated at {_frac:.2%}", r"is not an ONNX model")(
        lambda d, f=_frac: written(d, LARQ.read_bytes()[:int(LARQ.stat().st_size * f)]))
for _cut in (1, 2, 7):
    case(f"last {_cut} bytes cut", r"is not an ONNX model")(
        lambda d, c=_cut: written(d, TORCH_CNN.read_bytes()[:-c]))


# ------------------------------------------------------------------ external data

def _dynamo_without_data(d):
    shutil.copy(DYNAMO, d / DYNAMO.name)
    return d / DYNAMO.name


def _dynamo_short_data(d):
    shutil.copy(DYNAMO, d / DYNAMO.name)
    data = Path(str(DYNAMO) + ".data").read_bytes()
    (d / (DYNAMO.name + ".data")).write_bytes(data[:len(data) // 2])
    return d / DYNAMO.name


def _external_location(location):
    def make(d):
        m = mlp().model()
        t = m.graph.initializer[0]
        external_data_helper.set_external_data(t, location)
        t.data_location = TensorProto.EXTERNAL
        t.ClearField("raw_data")
        return saved_model(d, m)
    return make


def _misspelled_offset(d):
    """onnx ignores unknown keys: with 'offset' misspelled it would read the weights at offset 0."""
    data = DYNAMO.read_bytes()
    assert b"offset" in data
    shutil.copy(str(DYNAMO) + ".data", d / (DYNAMO.name + ".data"))
    return written(d, data.replace(b"offset", b"offSet", 1), DYNAMO.name)


case("external data key misspelled", r"unknown external data key 'offSet'")(_misspelled_offset)
case("missing external data file", r"external data file 'torch_dynamo_where\.onnx\.data' is missing")(
    _dynamo_without_data)
case("external data file too short", r"external data .*exceeds available data .*'")(_dynamo_short_data)
case("external data outside the folder", r"'\.\./\.\./etc/hostname' lies outside the model's folder")(
    _external_location("../../etc/hostname"))
case("external data at an absolute path", r"'/etc/hostname' lies outside the model's folder")(
    _external_location("/etc/hostname"))


# ------------------------------------------------------------------ broken graphs

def _missing_initializer(d):
    b = mlp()
    b.inits = [i for i in b.inits if i.name != "c1"]  # the MatMul weight
    return saved(d, b)


def _cycle(d):
    b = GraphBuilder([4])
    b.nodes.append(helper.make_node("Relu", ["x2"], ["x1"], name="loop_a"))
    b.nodes.append(helper.make_node("Relu", ["x1"], ["x2"], name="loop_b"))
    b.last = "x2"
    return saved(d, b)


def _wrong_arity(d):
    b = GraphBuilder([4])
    b.nodes.append(helper.make_node("MatMul", ["x"], ["y"], name="lonely_matmul"))
    b.last = "y"
    return saved(d, b)


case("missing initializer", r"node 'MatMul_2': tensor 'c1' is used but never produced")(_missing_initializer)
case("a cycle", r"node 'loop_a': the graph has a cycle")(_cycle)
case("node with too few inputs", r"node 'lonely_matmul'.*MatMul.*input")(_wrong_arity)


def _matmul_shapes(d):
    b = GraphBuilder([4])
    b.matmul(np.ones((5, 3), F32))  # 5 rows for a 4-wide input
    return saved(d, b)


def _bn_shapes(d):
    b = GraphBuilder([4])
    b.batchnorm(np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    return saved(d, b)


def _gemm_bias(d):
    b = GraphBuilder([4])
    b.node("Gemm", ["x", b.const(np.ones((4, 3), F32)), b.const(np.ones(5, F32))])
    return saved(d, b)


case("MatMul weight rows do not match the input", r"node 'MatMul_2'.*\(4,\).*\(5, 3\)")(_matmul_shapes)
case("BatchNormalization parameters of the wrong size", r"node 'BatchNormalization_5'.*scale.*\(3,\)")(
    _bn_shapes)
case("Gemm bias of the wrong size", r"node 'Gemm_3'.*\(5,\).*\(3,\)")(_gemm_bias)


def _mistyped_weight(d):
    b = GraphBuilder([4])
    b.node("MatMul", ["x", b.const(np.ones((4, 3), np.int64))])
    return saved(d, b)


case("MatMul weight of another type than its input", r"node 'MatMul_2'.*int64.*not valid ONNX")(_mistyped_weight)


# ------------------------------------------------------------------ inputs and outputs

case("input [N, 2**31]", r"input 'x' of shape \[1, 2147483648\] is absurdly large")(
    lambda d: saved(d, relu_graph([2 ** 31])))
case("input [N, 2**16, 2**16]", r"input 'x' .* is absurdly large")(
    lambda d: saved(d, relu_graph([2 ** 16, 2 ** 16])))
case("fixed batch of 8", r"input 'x' has a fixed batch of 8")(
    lambda d: saved_model(d, _with_input(relu_graph().model(), TensorProto.FLOAT, [8, 4])))


def _with_input(m, elem_type, dims):
    m.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", elem_type, dims))
    return m


for _t in ("INT64", "UINT8", "BOOL", "DOUBLE"):
    case(f"{_t.lower()} input", rf"input 'x' is {_t}; bnncompile takes float32 inputs")(
        lambda d, t=_t: saved_model(d, _with_input(relu_graph().model(), getattr(TensorProto, t), ["N", 4])))


def _no_outputs(d):
    m = relu_graph().model()
    del m.graph.output[:]
    return saved_model(d, m)


def _two_outputs(d):
    m = relu_graph().model()
    m.graph.output.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, None))
    return saved_model(d, m)


def _same_output_twice(d):
    b = GraphBuilder([4])
    r = b.node("Relu", ["x"])
    b.node("Identity", [r])
    m = b.model()
    m.graph.output.append(helper.make_tensor_value_info(r, TensorProto.FLOAT, None))
    return saved_model(d, m)


def _no_inputs(d):
    b = GraphBuilder([4])
    b.node("Relu", [b.const(np.ones(4, F32))])
    m = b.model()
    del m.graph.input[:]
    return saved_model(d, m)


case("no outputs", r"the model has no output")(_no_outputs)
case("an output that is the input", r"output 'x' is the model's input itself")(_two_outputs)
case("two outputs with the same values", r"holds the same values as an earlier output")(_same_output_twice)
case("no inputs", r"the model has no input that is not an initializer")(_no_inputs)
case("output that is never computed", r"output 'nowhere' does not depend on the input")(
    lambda d: saved(d, relu_graph(), output="nowhere"))


# ------------------------------------------------------------------ opsets and ops

case("opset newer than supported", rf"opset {onnx.defs.onnx_opset_version() + 1}, newer than")(
    lambda d: saved(d, GraphBuilder([4], opset=onnx.defs.onnx_opset_version() + 1)))
case("opset older than supported", r"opset 3 is older than supported")(lambda d: saved(d, GraphBuilder([4], opset=3)))


def _unsupported(d):
    b = GraphBuilder([4])
    b.node("Tanh", ["x"])
    b.node("Erf", ["x"])
    b.node("Add", ["t1", "t2"])  # downstream of unsupported nodes: not listed again
    b.node("Cos", ["x"])
    b.node("Foo", ["x"], domain="com.example")
    return saved(d, b, extra_opsets=[("com.example", 1)])


case("several unsupported ops", r"unsupported node\(s\):\n  Tanh_1 \(Tanh\).*\n  Erf_2 \(Erf\).*\n"
                                r"  Cos_4 \(Cos\).*\n  Foo_5 \(Foo\)", multiline=True)(_unsupported)


# ------------------------------------------------------------------ non-finite parameters

def _poisoned_weight(value):
    def make(d):
        w = np.ones((4, 3), F32)
        w[2, 1] = value
        b = GraphBuilder([4])
        b.matmul(w)
        return saved(d, b)
    return make


def _poisoned_bn(var):
    def make(d):
        b = GraphBuilder([4])
        b.matmul(signs(np.random.default_rng(0), (4, 3)))
        b.batchnorm(np.ones(3), np.zeros(3), np.zeros(3), var)
        return saved(d, b)
    return make


def _poisoned_mul(value):
    def make(d):
        b = GraphBuilder([4])
        b.node("Mul", ["x", b.const(np.array([1, value, 2, 3], F32))])
        return saved(d, b)
    return make


case("NaN in a MatMul weight", r"node 'MatMul_2': weight holds NaN or infinite values")(_poisoned_weight(np.nan))
case("inf in a MatMul weight", r"node 'MatMul_2': weight holds NaN or infinite values")(_poisoned_weight(np.inf))
case("NaN batchnorm variance", r"node 'BatchNormalization_7': .*input_var \+ epsilon must be positive")(
    _poisoned_bn([1, np.nan, 1]))
case("negative batchnorm variance (sqrt of it is NaN)",
     r"node 'BatchNormalization_7': .*input_var \+ epsilon must be positive")(_poisoned_bn([1, -4, 1]))
case("NaN in a Mul constant", r"node 'Mul_2': .*NaN or infinite")(_poisoned_mul(np.nan))
case("-inf in a Mul constant", r"node 'Mul_2': .*NaN or infinite")(_poisoned_mul(-np.inf))


# ------------------------------------------------------------------ zero-sized and absurd tensors

def _zero_weight(d):
    b = GraphBuilder([4])
    b.matmul(np.ones((4, 0), F32))
    return saved(d, b)


def _zero_const(d):
    b = GraphBuilder([4])
    b.node("Mul", ["x", b.const(np.ones(0, F32))])
    return saved(d, b)


def _huge_constant(d):
    b = GraphBuilder([4])
    big = b.node("ConstantOfShape", [b.const(np.array([1, 2 ** 31], np.int64))],
                 value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]))
    b.node("Add", ["x", big])
    return saved(d, b)


case("zero-sized input dimension", r"input 'x' has dimension 1 of size 0")(lambda d: saved(d, relu_graph([0])))
case("batch of 0", r"input 'x' has dimension 0 of size 0")(
    lambda d: saved_model(d, _with_input(relu_graph().model(), TensorProto.FLOAT, [0, 4])))
case("zero-sized MatMul weight", r"node 'MatMul_2': .*no elements")(_zero_weight)
case("zero-sized Mul constant", r"node 'Mul_2': constant of shape \(0,\)")(_zero_const)
case("constant of 2**31 elements",
     r"node 'ConstantOfShape_2': ConstantOfShape on constants needs 2,147,483,648 elements, more than the limit "
     r".*BNN_MAX_FOLD_ELEMENTS")(_huge_constant)


# ------------------------------------------------------------------ malformed attributes

def _attr_case(op, shape, inputs=(), **attrs):
    def make(d):
        b = GraphBuilder(list(shape))
        b.node(op, ["x", *[b.const(v) for v in inputs]], **attrs)
        return saved(d, b)
    return make


case("Transpose perm out of range", r"node 'Transpose_1': Transpose perm \[0, 5\]")(
    _attr_case("Transpose", [4], perm=[0, 5]))
case("Concat axis out of range", r"node 'Concat_1': Concat axis 9")(_attr_case("Concat", [2, 3, 3], axis=9))
case("Conv stride 0", r"node 'Conv_2': strides \[0, 0\]")(
    _attr_case("Conv", [2, 4, 4], [np.ones((2, 2, 3, 3), F32)], strides=[0, 0]))
case("MaxPool without kernel_shape", r"node 'MaxPool_1'.*kernel_shape")(_attr_case("MaxPool", [2, 4, 4]))
case("attribute of the wrong type", r"node 'Softmax_1': attribute 'axis' is STRING")(
    _attr_case("Softmax", [4], axis="last"))


case("auto_pad that does not exist", r"node 'Conv_2': unknown auto_pad 'MIRROR'")(
    _attr_case("Conv", [2, 4, 4], [np.ones((2, 2, 3, 3), F32)], auto_pad="MIRROR"))
case("attribute the op does not have", r"node 'Relu_1': Relu has no attribute 'alpha'")(
    _attr_case("Relu", [4], alpha=0.5))


def _produced_twice(d):
    b = GraphBuilder([4])
    b.node("Relu", ["x"])
    b.nodes.append(helper.make_node("Neg", ["x"], ["t1"], name="other"))
    return saved(d, b, output="t1")


def _same_node_name(d):
    b = GraphBuilder([4])
    b.node("Relu", ["x"])
    b.node("Neg", [b.last])
    b.nodes[1].name = "Relu_1"
    return saved(d, b)


def _ir_version(d):
    m = relu_graph().model()
    m.ir_version = onnx.IR_VERSION + 1
    return saved_model(d, m)


def _unknown_input_type(d):
    m = relu_graph().model()
    m.graph.input[0].type.tensor_type.elem_type = 99
    return saved_model(d, m)


def _bipolar_quant_without_domain(d):
    b = GraphBuilder([4])
    b.node("BipolarQuant", ["x", b.const(F32(1))])
    return saved(d, b)


case("tensor produced by two nodes", r"node 'other': tensor 't1' is produced twice .*'Relu_1'")(_produced_twice)
case("two nodes with one name", r"node 'Relu_1': two nodes have this name")(_same_node_name)
case("IR version newer than supported", rf"IR version {onnx.IR_VERSION + 1}, newer than")(_ir_version)
case("input of an unknown element type", r"input 'x' is of unknown element type 99")(_unknown_input_type)
case("QONNX op in the standard domain", r"BipolarQuant_2 \(BipolarQuant\): BipolarQuant does not exist in ONNX opset 13",
     multiline=True)(_bipolar_quant_without_domain)


def _comment_injection(d):
    """Node names and producer strings end up in C comments: they must not close them."""
    b = mlp()
    b.nodes[0].name = "MatMul */ int injected; /* \n"
    m = b.model()
    m.producer_name = "*/ #error injected /*"
    m.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(np.full((6, 5), np.nan, F32), "c1"))
    return saved_model(d, m)


case("node name and producer that would close a C comment", r"node 'MatMul \* / int injected; / \* \\n'")(
    _comment_injection)


# ------------------------------------------------------------------ running them all (in parallel)

def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")

    def run(item):
        name, c = item
        d = root / re.sub(r"\W+", "_", name)
        d.mkdir()
        model = c.make(d)
        before = _listing(d)
        out = d / "build" / "deep" / "net"  # neither folder exists: nothing may create them
        proc = run_cli("compile", model, "-o", out)
        return name, (proc, before, _listing(d), out)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(run, CASES.items()))


def assert_one_clean_error(proc, match, multiline=False):
    err = proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.rstrip("\n").split("\n")
    assert lines[0].startswith("bnncompile: error: "), err
    if multiline:  # `unsupported node(s):`, one indented line per node, then a pointer to the README
        assert all(line.startswith("  ") for line in lines[1:-1]) and lines[-1].startswith("see the README"), err
    else:
        assert len(lines) == 1, f"not one line: {err!r}"
    assert re.search(match, err), f"{match!r} not in {err!r}"
    assert proc.stdout == ""


@pytest.mark.parametrize("name", list(CASES))
def test_compile_refuses_cleanly_and_writes_nothing(results, name):
    proc, before, after, out = results[name]
    assert_one_clean_error(proc, CASES[name].match, CASES[name].multiline)
    assert not out.exists() and not out.parent.exists() and not out.parent.parent.exists()
    assert after == before, f"left behind: {sorted(after - before)}"


def test_failure_keeps_an_existing_output_folder_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "net.c").write_text("/* an earlier, good build */\n")
    (out / "notes.txt").write_text("mine\n")
    bad = CASES["NaN in a MatMul weight"].make(tmp_path)
    proc = run_cli("compile", bad, "-o", out, "--name", "net")
    assert_one_clean_error(proc, r"NaN")
    assert _listing(out) == {"net.c", "notes.txt"}
    assert (out / "net.c").read_text() == "/* an earlier, good build */\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "bad.onnx"])


@pytest.mark.parametrize("name", ["truncated at 50.00%", "missing external data file", "a cycle",
                                  "NaN batchnorm variance", "MatMul weight of another type than its input",
                                  "attribute the op does not have", "tensor produced by two nodes"])
def test_verify_and_golden_refuse_cleanly(tmp_path, name):
    model = CASES[name].make(tmp_path)
    before = _listing(tmp_path)
    assert_one_clean_error(run_cli("verify", model, "--samples", "3"), CASES[name].match)
    assert_one_clean_error(run_cli("golden", model, "-o", tmp_path / "golden"), CASES[name].match)
    assert _listing(tmp_path) == before


def test_the_fixture_used_for_truncation_is_itself_fine(tmp_path):
    """The truncated files above fail because of the cut, not because of the fixture."""
    proc = run_cli("compile", LARQ, "-o", tmp_path / "ok")
    assert proc.returncode == 0, proc.stderr
    assert {"larq_mlp_op13.c", "larq_mlp_op13.h"} <= _listing(tmp_path / "ok")


def test_hostile_names_cannot_inject_c(tmp_path):
    """Names from the model appear in comments of the generated C; they cannot end a comment there."""
    b = larq_mlp(np.random.default_rng(3), sizes=(8, 6, 4))
    for n in b.nodes:
        n.name += " */ int injected; /* \n#error"
    m = b.model()
    m.producer_name, m.producer_version = "*/ int injected2; /*", "1\n#error ??/"
    path = saved_model(tmp_path, m)
    proc = run_cli("compile", path, "-o", tmp_path / "out", "--name", "net")
    assert proc.returncode == 0, proc.stderr
    for f in (tmp_path / "out").glob("net.[ch]"):
        text = f.read_text()
        assert "injected" in text
        for comment_free in re.sub(r"/\*.*?\*/", "", text, flags=re.S).splitlines():
            assert "injected" not in comment_free and "#error" not in comment_free, (f.name, comment_free)
        assert "??" not in text
