"""Reading JSON that a user (or anyone) wrote: only JSONDecodeError, whatever the text.

The standard parser is used, with two gaps closed:
- nesting deeper than Python's recursion limit (a line of 100,000 "[")
  raises RecursionError inside the parser; here it is a JSONDecodeError;
- an integer longer than Python converts (sys.get_int_max_str_digits(), 4300
  digits by default, a guard against quadratic-time conversion) raises
  ValueError; here such a number is read as a float (inf beyond the float
  range), as JavaScript reads it, so a valid line with a huge number in a
  field nobody uses still reads.
"""

from __future__ import annotations

import json

JSONDecodeError = json.JSONDecodeError


def _long_int(digits: str):
    try:
        return int(digits)
    except ValueError:  # past the conversion limit
        return float(digits)


def _parse(text, parse_int=None):
    try:
        return json.loads(text, parse_int=parse_int)
    except JSONDecodeError:
        raise
    except RecursionError:
        doc = text if isinstance(text, str) else ""
        raise JSONDecodeError("nested too deeply to read", doc, 0) from None
    except UnicodeDecodeError as exc:  # bytes that are not UTF-8/16/32
        raise JSONDecodeError(f"not UTF-8 text ({exc.reason})", "", 0) from None


def loads(text: str | bytes | bytearray):
    """json.loads(text); raises only JSONDecodeError (a ValueError) on bad input."""
    try:
        return _parse(text)
    except JSONDecodeError:
        raise
    except ValueError:  # an integer past the conversion limit: read again, keeping it as a float
        return _parse(text, _long_int)
