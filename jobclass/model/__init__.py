"""The model: cleaning, the sentence encoder (torch and ONNX backends), scoring heads, the classifier and its bundle."""
