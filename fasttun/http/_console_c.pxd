# Augmenting declarations: _console.py compiled as _console_c (see visitor_c.pxd).
# One line per request: typed locals, C arithmetic, C calls.

cimport cython


@cython.locals(seconds=double, tenths=long)
cpdef str request_line(object method, object path, object status, object size, object duration)
@cython.locals(r=list, line=str)
cpdef request_lines(list lines, str stamp, bint several, dict tunnels, list records)
