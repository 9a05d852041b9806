// make_vgg16_onnx.js - write VGG-16 conv1_1..conv5_3 (13 Conv 3x3 pad 1 +
// Relu, MaxPool 2x2 stride 2 after conv1_2, conv2_2, conv3_3 and conv4_3)
// as an ONNX model with random He-uniform weights, for the ONNX Runtime
// side of tools/bench/peer_ort.sh. The same network `facet bench vgg`
// runs; the weight values differ (speed does not depend on them).
//
//   node tools/bench/make_vgg16_onnx.js OUT.onnx
//
// The protobuf is encoded here by hand (no dependencies): ModelProto with
// IR version 8 and opset 13, one GraphProto, float32 initializers as
// raw_data, input "input" of shape [N, 3, 224, 224] with a symbolic batch
// and output "conv5_3" of shape [N, 512, 14, 14].
//
// ref: onnx/onnx.proto (field numbers) and the protobuf wire format.
//
// Limitations:
// - Writes only the message fields this network needs.
'use strict';

const fs = require('fs');

// --- protobuf wire format ----------------------------------------------

function varint(n) {
    // Non-negative integers below 2^53.
    const out = [];
    let v = n;
    while (v >= 0x80) {
        out.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
    }
    out.push(v);
    return Buffer.from(out);
}

function key(field, wire) {
    return varint(field * 8 + wire);
}

// Field with a varint value (wire type 0).
function fInt(field, n) {
    return Buffer.concat([key(field, 0), varint(n)]);
}

// Length-delimited field (wire type 2): bytes, string or message.
function fBytes(field, buf) {
    return Buffer.concat([key(field, 2), varint(buf.length), buf]);
}

function fStr(field, s) {
    return fBytes(field, Buffer.from(s, 'utf8'));
}

// Packed repeated varints.
function fPacked(field, list) {
    return fBytes(field, Buffer.concat(list.map(varint)));
}

// --- ONNX messages -----------------------------------------------------

const FLOAT = 1;         // TensorProto.DataType
const ATTR_INTS = 7;     // AttributeProto.AttributeType

function attrInts(name, ints) {
    return Buffer.concat([fStr(1, name), fInt(20, ATTR_INTS),
        Buffer.concat(ints.map((v) => fInt(8, v)))]);
}

function node(op, inputs, outputs, name, attrs) {
    const parts = [];
    for (const i of inputs) parts.push(fStr(1, i));
    for (const o of outputs) parts.push(fStr(2, o));
    parts.push(fStr(3, name), fStr(4, op));
    for (const a of attrs || []) parts.push(fBytes(5, a));
    return Buffer.concat(parts);
}

function tensor(name, dims, data) {
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return Buffer.concat([fPacked(1, dims), fInt(2, FLOAT), fStr(8, name),
        fBytes(9, raw)]);
}

// ValueInfoProto of a float tensor; a string dim is symbolic.
function valueInfo(name, dims) {
    const dimMsgs = dims.map((d) => fBytes(1,
        typeof d === 'string' ? fStr(2, d) : fInt(1, d)));
    const shape = Buffer.concat(dimMsgs);
    const tensorType = Buffer.concat([fInt(1, FLOAT), fBytes(2, shape)]);
    return Buffer.concat([fStr(1, name), fBytes(2, fBytes(1, tensorType))]);
}

// --- the network -------------------------------------------------------

const convs = [
    ['conv1_1', 3, 64], ['conv1_2', 64, 64], 'pool1',
    ['conv2_1', 64, 128], ['conv2_2', 128, 128], 'pool2',
    ['conv3_1', 128, 256], ['conv3_2', 256, 256], ['conv3_3', 256, 256],
    'pool3',
    ['conv4_1', 256, 512], ['conv4_2', 512, 512], ['conv4_3', 512, 512],
    'pool4',
    ['conv5_1', 512, 512], ['conv5_2', 512, 512], ['conv5_3', 512, 512],
];

// xorshift32, seeded: the same model every run.
let state = 16;
function uniform() {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
}

function build() {
    const nodes = [], inits = [];
    let x = 'input';

    for (const c of convs) {
        if (typeof c === 'string') {
            nodes.push(node('MaxPool', [x], [c], c, [
                attrInts('kernel_shape', [2, 2]),
                attrInts('strides', [2, 2])]));
            x = c;
            continue;
        }
        const [name, cin, cout] = c;
        const w = new Float32Array(cout * cin * 9);
        const b = new Float32Array(cout);
        const a = Math.sqrt(6 / (9 * cin));
        for (let i = 0; i < w.length; i++) w[i] = a * (2 * uniform() - 1);
        for (let i = 0; i < b.length; i++) b[i] = 0.1 * (uniform() - 0.5);
        inits.push(tensor(name + '.weight', [cout, cin, 3, 3], w));
        inits.push(tensor(name + '.bias', [cout], b));
        nodes.push(node('Conv', [x, name + '.weight', name + '.bias'],
            [name + '.pre'], name, [
                attrInts('kernel_shape', [3, 3]),
                attrInts('pads', [1, 1, 1, 1]),
                attrInts('strides', [1, 1])]));
        nodes.push(node('Relu', [name + '.pre'], [name], name + '.relu'));
        x = name;
    }

    const graph = Buffer.concat([
        Buffer.concat(nodes.map((n) => fBytes(1, n))),
        fStr(2, 'vgg16_conv'),
        Buffer.concat(inits.map((t) => fBytes(5, t))),
        fBytes(11, valueInfo('input', ['N', 3, 224, 224])),
        fBytes(12, valueInfo(x, ['N', 512, 14, 14])),
    ]);
    const opset = Buffer.concat([fStr(1, ''), fInt(2, 13)]);
    return Buffer.concat([
        fInt(1, 8),                 // ir_version
        fStr(2, 'facet'),           // producer_name
        fBytes(7, graph),
        fBytes(8, opset),
    ]);
}

if (process.argv.length < 3) {
    process.stderr.write('usage: node make_vgg16_onnx.js OUT.onnx\n');
    process.exit(2);
}
fs.writeFileSync(process.argv[2], build());
