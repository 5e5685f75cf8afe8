"""How a network runs, whichever it is: bf16 copies, ONNX graphs and their cache, ONNX Runtime sessions."""
