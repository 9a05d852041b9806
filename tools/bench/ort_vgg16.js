// ort_vgg16.js - time ONNX Runtime (onnxruntime-node, CPU execution
// provider) on the VGG-16 conv1_1..conv5_3 model of make_vgg16_onnx.js:
// ms per image at one thread count and batch, median and best of the
// repetitions after one warm-up run. The peer of `facet bench vgg`;
// tools/bench/peer_ort.sh runs the two side by side.
//
//   node tools/bench/ort_vgg16.js MODULE_DIR MODEL.onnx THREADS BATCH REPS
//
// MODULE_DIR is the installed onnxruntime-node package folder. Prints one
// line: "ort THREADS BATCH MEDIAN_MS BEST_MS" (ms per image).
//
// Session: intraOpNumThreads = THREADS, interOpNumThreads = 1, sequential
// execution, all graph optimisations (ORT fuses Conv + Relu and picks its
// own convolution kernels).
//
// Limitations:
// - Wall-clock timing of session.run from JavaScript: includes the small
//   cost of wrapping the input and output tensors.
'use strict';

async function main() {
    const [dir, model, threadsArg, batchArg, repsArg] = process.argv.slice(2);
    if (!repsArg) {
        process.stderr.write('usage: node ort_vgg16.js MODULE_DIR MODEL.onnx ' +
            'THREADS BATCH REPS\n');
        process.exit(2);
    }
    const ort = require(dir);
    const threads = Number(threadsArg), batch = Number(batchArg);
    const reps = Number(repsArg);

    const session = await ort.InferenceSession.create(model, {
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });

    // Inputs uniform in [-1, 1), as in `facet bench vgg`.
    const data = new Float32Array(batch * 3 * 224 * 224);
    let s = 7;
    for (let i = 0; i < data.length; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        data[i] = 2 * ((s >>> 0) / 4294967296) - 1;
    }
    const feeds = {};
    feeds[session.inputNames[0]] =
        new ort.Tensor('float32', data, [batch, 3, 224, 224]);

    await session.run(feeds);
    const times = [];
    for (let r = 0; r < reps; r++) {
        const t0 = process.hrtime.bigint();
        await session.run(feeds);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6 / batch);
    }
    times.sort((a, b) => a - b);
    const n = times.length;
    const median = n % 2 ? times[(n - 1) / 2]
        : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    console.log(`ort ${threads} ${batch} ${median.toFixed(1)} ` +
        `${times[0].toFixed(1)}`);
}

main().catch((e) => {
    process.stderr.write(`ort_vgg16: ${e.message}\n`);
    process.exit(1);
});
