# Augmenting declarations: console.py compiled as console_c (see visitor_c.pxd).
# One line per request on the client's console: typed locals, C arithmetic.

cimport cython


@cython.locals(r=list, path=str, seconds=double, tenths=long)
cpdef request_lines(list lines, str stamp, bint several, dict tunnels, list records)
