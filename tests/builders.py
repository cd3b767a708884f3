"""Small ONNX graphs built with onnx.helper, the way exporters write them."""
from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    def __init__(self, input_shape, opset=13, input_name="x"):
        self.nodes, self.inits, self.opset = [], [], opset
        self.input = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", *input_shape])
        self.last = input_name
        self._n = 0

    def const(self, value, name=None):
        self._n += 1
        name = name or f"c{self._n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op, inputs, domain="", **attrs):
        self._n += 1
        out = f"t{self._n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{self._n}", domain=domain, **attrs))
        self.last = out
        return out

    # idioms ---------------------------------------------------------------
    def larq_sign(self, x=None):
        s = self.node("Sign", [x or self.last])
        a = self.node("Add", [s, self.const(np.float32(0.1))])
        return self.node("Sign", [a])

    def where_sign(self, x=None):
        x = x or self.last
        ge = self.node("GreaterOrEqual", [x, self.const(np.float32(0))])
        return self.node("Where", [ge, self.const(np.float32(1)), self.const(np.float32(-1))])

    def matmul(self, w, x=None):
        return self.node("MatMul", [x or self.last, self.const(np.asarray(w, np.float32))])

    def batchnorm(self, gamma, beta, mean, var, eps=1e-3, x=None):
        ins = [self.const(np.asarray(v, np.float32)) for v in (gamma, beta, mean, var)]
        return self.node("BatchNormalization", [x or self.last, *ins], epsilon=eps, momentum=0.99)

    def model(self, output=None, extra_opsets=()):
        out = helper.make_tensor_value_info(output or self.last, TensorProto.FLOAT, None)
        g = helper.make_graph(self.nodes, "g", [self.input], [out], self.inits)
        opsets = [helper.make_opsetid("", self.opset), *[helper.make_opsetid(d, v) for d, v in extra_opsets]]
        return helper.make_model(g, opset_imports=opsets, producer_name="tests")

    def save(self, path, **kw):
        onnx.save(self.model(**kw), str(path))
        return str(path)


def random_bn(rng, n, negative=True):
    gamma = rng.uniform(0.3, 1.5, n) * (rng.choice([-1, 1], n) if negative else 1)
    return gamma, rng.normal(0, 1, n), rng.normal(0, 3, n), rng.uniform(0.5, 4, n)


def signs(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape).astype(np.float32)


def larq_mlp(rng, sizes=(64, 48, 32, 10), softmax=True, opset=13):
    """Larq-style: real input -> BWN dense -> BN -> ste_sign -> XNOR denses ... -> softmax."""
    b = GraphBuilder([sizes[0]], opset=opset)
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            b.larq_sign()
        b.matmul(signs(rng, (k, n)))
        b.batchnorm(*random_bn(rng, n))
    if softmax:
        b.node("Softmax", [b.last], axis=-1)
    return b


def shift_one_threshold_array(source: str) -> str:
    """Generated C (prefix `net`) with every accumulator threshold of one binary layer moved
    by one step: drift that `verify --c-dir` and `assert_c_matches` must catch."""
    # a binary layer fused with its threshold: { BNN_OUT_BITS, 0, NULL, lo, hi, flip, ternary, plane }
    call = re.search(r"\{ BNN_OUT_BITS, 0, NULL, (net_l\d+_lo), net_l\d+_lo, net_l\d+_flip, 0, 0 \}", source)
    assert call, "expected a binary layer that writes its thresholded bits in the generated C"

    def shift(match):
        values = [int(v) + 2 for v in re.findall(r"-?\d+", match.group(2))]
        return match.group(1) + ", ".join(map(str, values)) + "\n};"

    for array in call.groups():
        source = re.sub(rf"(static const int32_t {array}\[\d+\] = {{)(.*?)\n}};", shift, source, flags=re.S)
    return source
