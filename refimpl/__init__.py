"""Reference implementations of the papers in this knowledge base (PyTorch).

Every public constructor and function checks its arguments and its input and refuses a bad one with
a one-line ``ValueError`` or ``TypeError`` that names the argument, the value given and the valid
values. Models and blocks take floating-point tensors of their own parameter dtype (float32 unless
converted, e.g. with ``.double()``); integer, bool or mismatched float input and NumPy arrays are
refused rather than converted. NumPy integers and floats are accepted wherever Python numbers are.
The checks read only Python values and tensor metadata, so they also run on the ``meta`` device.
"""
