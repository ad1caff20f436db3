r"""Argument checks shared by the reference implementations.

Every public constructor and function of ``refimpl`` checks what it is given before it uses it, and
refuses a bad value with one line that names the argument, the value received and the values that
are valid. The checks read Python values and tensor metadata only (type, dtype, number of
dimensions, shape), so they cost nothing next to a convolution and work on the ``meta`` device. The
few checks of tensor *values* (the range of labels or probabilities in a loss) are skipped on
``meta``, where there are no values.

The policy, the same in every module:

* A tensor argument must be a ``torch.Tensor``. A NumPy array is refused with a ``TypeError`` that
  says how to convert it (``torch.from_numpy``), not converted silently; the other way round, the
  NumPy functions (``refimpl.augment``, the weight map) refuse tensors where they take arrays.
* The input of a model or block must be floating point *and of the dtype of its parameters*
  (float32 unless the model was converted, e.g. with ``model.double()``, which then takes float64).
  An integer, bool or float64 input to a float32 model is refused, naming both dtypes.
* Functions without parameters (the hard activations, the losses) take any floating-point dtype and
  compute in it. Labels and class indices must be integer (or bool) tensors.
* Integers may be Python or NumPy integers (``np.int64(3)``); real numbers Python or NumPy numbers
  (``np.float32(0.75)``). ``bool`` is never taken for a number, nor a number for a flag.

A wrong type raises `ArgumentTypeError`, which is a ``TypeError`` and, for code written when these
errors were ``ValueError``, a ``ValueError`` too; a wrong value raises ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError``; also a ``ValueError``, what earlier versions raised)."""


def describe(value: Any) -> str:
    """A short description of ``value`` for an error message: a tensor's shape and dtype, not its values."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_int(value: Any) -> bool:
    """A Python or NumPy integer, not a ``bool``."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A Python or NumPy real number (integer or float, NaN included), not a ``bool``."""
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def integer(name: str, value: Any, low: Optional[int] = 1, high: Optional[int] = None, hint: str = "") -> int:
    """``value`` as an ``int``, refused unless it is an integer in ``[low, high]`` (``None``: unbounded).

    Args:
        name: the argument's name, for the message.
        value: what the caller passed.
        low: the smallest valid value.
        high: the largest valid value.
        hint: appended to the rule, e.g. ``"e.g. 1000 for ImageNet"``.
    """
    rule = _range_rule("an integer", low, high) + (f" ({hint})" if hint else "")
    if not is_int(value):
        raise ArgumentTypeError(f"{name} must be {rule}; got {describe(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return value


def positive(name: str, value: Any, hint: str = "") -> int:
    """``value`` as an ``int`` ≥ 1 (a channel count, a number of classes, a stride, a size)."""
    return integer(name, value, 1, None, hint)


def optional_positive(name: str, value: Any, hint: str = "") -> Optional[int]:
    """``None``, or ``value`` as an ``int`` ≥ 1."""
    return None if value is None else integer(name, value, 1, None, (hint + ", or None") if hint else "or None")


def _range_rule(kind: str, low: Optional[float], high: Optional[float], low_open: bool = False,
                high_open: bool = False) -> str:
    """"a positive integer", "a finite number in (0, 4]", "a finite number >= 0", …"""
    if kind == "an integer" and high is None and low in (0, 1):
        return "a positive integer" if low == 1 else "a non-negative integer"
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high:g}"
    return kind


def real(name: str, value: Any, low: Optional[float] = None, high: Optional[float] = None, *,
         low_open: bool = False, high_open: bool = False, hint: str = "") -> float:
    """``value`` as a ``float``, refused unless it is a finite real number in the given interval.

    Args:
        name: the argument's name, for the message.
        value: what the caller passed.
        low: lower bound (``None``: none).
        high: upper bound (``None``: none).
        low_open: exclude ``low`` itself.
        high_open: exclude ``high`` itself.
        hint: appended to the rule.
    """
    rule = _range_rule("a finite number", low, high, low_open, high_open) + (f" ({hint})" if hint else "")
    if not is_real(value):
        raise ArgumentTypeError(f"{name} must be {rule}; got {describe(value)}")
    number = float(value)
    if (not math.isfinite(number)
            or (low is not None and (number < low or (low_open and number == low)))
            or (high is not None and (number > high or (high_open and number == high)))):
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return number


def probability(name: str, value: Any, hint: str = "") -> float:
    """A drop-out probability: a number in [0, 1) (1 would drop everything)."""
    return real(name, value, 0.0, 1.0, high_open=True, hint=hint)


def flag(name: str, value: Any) -> bool:
    """``value`` as a ``bool``; only ``True``/``False`` (or NumPy's) are flags, not ``1``, ``"no"`` or ``None``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False; got {describe(value)}")
    return bool(value)


def optional_flag(name: str, value: Any) -> Optional[bool]:
    """``None``, or ``value`` as a ``bool``."""
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True, False or None; got {describe(value)}")
    return bool(value)


def _same_kind(value: Any, option: Any) -> bool:
    if isinstance(option, str):
        return isinstance(value, str)
    if isinstance(option, bool):
        return isinstance(value, (bool, np.bool_))
    if is_int(option):
        return is_int(value)
    return type(value) is type(option)


def choice(name: str, value: Any, options: Iterable[Any], hint: str = "") -> Any:
    """``value`` itself, refused unless it is one of ``options`` (of the same kind: ``True`` is not ``1``)."""
    options = tuple(options)
    if not any(_same_kind(value, option) and value == option for option in options):
        shown = ", ".join(repr(option) for option in options)
        raise ValueError(f"{name} must be one of {shown}{f' ({hint})' if hint else ''}; got {describe(value)}")
    return value


def callable_or_none(name: str, value: Any, hint: str) -> None:
    """Refuse ``value`` unless it is ``None`` or callable (a module factory such as ``nn.ReLU``)."""
    if value is not None and not callable(value):
        raise ArgumentTypeError(f"{name} must be {hint}; got {describe(value)}")


def sequence(name: str, value: Any, hint: str, min_length: int = 0) -> tuple:
    """``value`` as a tuple, refused unless it is a list, tuple, range, 1-D array or 1-D tensor (not a string) of ``min_length`` items or more."""
    if isinstance(value, (np.ndarray, Tensor)) and value.ndim == 1:
        value = tuple(value.tolist())
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, range)):
        raise ArgumentTypeError(f"{name} must be {hint}; got {describe(value)}")
    if len(value) < min_length:
        raise ValueError(f"{name} must be {hint}, at least {min_length} of them; got {describe(value)}")
    return tuple(value)


def rows(name: str, value: Any, fields: Sequence[str], hint: str, min_rows: int = 1,
         low: Optional[dict[str, int]] = None) -> tuple[tuple[int, ...], ...]:
    """An architecture table: a non-empty sequence of rows, each ``len(fields)`` integers ≥ 1 (or ``low[field]``).

    Returns the rows unchanged (``NamedTuple`` rows stay ``NamedTuple`` rows), so that a model built
    from them is the one it was before the check.
    """
    table = sequence(name, value, hint, min_rows)
    low = low or {}
    for i, row in enumerate(table):
        if isinstance(row, (str, bytes)) or not isinstance(row, (list, tuple)) or len(row) != len(fields):
            raise ArgumentTypeError(f"{name}[{i}] must be a row ({', '.join(fields)}) of {hint}; got {describe(row)}")
        for field, cell in zip(fields, row):
            integer(f"{name}[{i}].{field}", cell, low.get(field, 1))
    return table


# --------------------------------------------------------------------------- tensors


def tensor(name: str, x: Any, owner: str = "") -> Tensor:
    """Refuse ``x`` unless it is a ``torch.Tensor``; a NumPy array gets the conversion to use."""
    if isinstance(x, Tensor):
        return x
    who = f"{owner} " if owner else ""
    how = " (convert it with torch.from_numpy(x))" if isinstance(x, np.ndarray) else ""
    raise ArgumentTypeError(f"{who}{name} must be a torch.Tensor{how}; got {describe(x)}")


def floating(name: str, x: Any, owner: str = "") -> Tensor:
    """A floating-point ``torch.Tensor`` of any dtype (float16, bfloat16, float32, float64)."""
    x = tensor(name, x, owner)
    if not x.is_floating_point():
        who = f"{owner} " if owner else ""
        raise ArgumentTypeError(f"{who}{name} must be a floating-point tensor (e.g. torch.float32); got dtype {x.dtype}"
                                f" (convert it with .float())")
    return x


def labels(name: str, x: Any, owner: str = "") -> Tensor:
    """An integer or bool ``torch.Tensor`` of class indices."""
    x = tensor(name, x, owner)
    if x.is_floating_point() or x.is_complex():
        who = f"{owner} " if owner else ""
        raise ArgumentTypeError(f"{who}{name} must be an integer tensor of class indices (e.g. torch.int64); "
                                f"got dtype {x.dtype} (convert it with .long())")
    return x


def has_values(x: Tensor) -> bool:
    """Whether ``x``'s values can be read: not on the ``meta`` device."""
    return x.device.type != "meta"


def value_range(x: Tensor) -> tuple[float, float]:
    """``(min, max)`` of a non-empty tensor with values (one reduction, no autograd graph); NaN propagates."""
    with torch.no_grad():
        low, high = torch.aminmax(x.detach().reshape(-1))
    return low.item(), high.item()


def parameter_dtype(module: torch.nn.Module) -> Optional[torch.dtype]:
    """The dtype of ``module``'s first floating-point parameter, or ``None`` when it has none."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def batch(x: Any, channels: int, dims: int, owner: str, dtype: Optional[torch.dtype] = None, name: str = "input") -> Tensor:
    """Refuse ``x`` unless it is a batch ``(N, channels, *spatial)`` with ``dims`` non-empty spatial sizes.

    With ``dtype`` (the model's parameter dtype), the input must have exactly that dtype; without it,
    any floating-point dtype passes. Under ``torch.autocast`` the dtype may differ (autocast casts).
    """
    if not isinstance(x, Tensor):
        tensor(name, x, owner)
    expected = "(N, C, " + ", ".join("HWD"[:dims]) + ")"
    if x.dim() != dims + 2:
        raise ValueError(f"{owner} expects a {dims + 2}-D input {expected} with C={channels}; got shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"{owner} expects {channels} input channels {expected}; got {x.shape[1]} (shape {tuple(x.shape)})")
    if not x.is_floating_point():
        want = dtype if dtype is not None else "floating point (e.g. torch.float32)"
        raise ArgumentTypeError(f"{owner} expects a floating-point {name} of dtype {want}; got {x.dtype} "
                                f"(convert it with .float())")
    if dtype is not None and x.dtype != dtype and not _autocast(x):
        raise ArgumentTypeError(f"{owner} expects an {name} of dtype {dtype}, the dtype of its parameters; got {x.dtype} "
                                f"(convert the input with .to({dtype}), or the model with .to({x.dtype}))")
    if any(s < 1 for s in x.shape[2:]):
        raise ValueError(f"{owner} expects spatial sizes of at least 1 {expected}; got shape {tuple(x.shape)}")
    return x


def _autocast(x: Tensor) -> bool:
    """Whether ``torch.autocast`` is on for ``x``'s device (never for ``meta``, which has no autocast)."""
    try:
        return torch.is_autocast_enabled(x.device.type)
    except RuntimeError:  # "unknown device type for autocast" (meta)
        return False


# --------------------------------------------------------------------------- NumPy arrays


def array(name: str, a: Any, owner: str = "") -> np.ndarray:
    """Refuse ``a`` unless it is a ``numpy.ndarray`` of real numbers (bool, integer or float); a tensor gets the conversion."""
    who = f"{owner} " if owner else ""
    if not isinstance(a, np.ndarray):
        how = " (convert it with x.numpy())" if isinstance(a, Tensor) else ""
        raise ArgumentTypeError(f"{who}{name} must be a numpy.ndarray{how}; got {describe(a)}")
    if a.dtype.kind not in "biuf":
        raise ArgumentTypeError(f"{who}{name} must hold real numbers (a bool, integer or float dtype); got dtype {a.dtype}")
    return a
