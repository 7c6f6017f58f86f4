# The compiled head scanner as the other compiled modules see it (cimport):
# _heads_c and the HTTP front's visitor call these as C functions, without a
# Python call per head.

cpdef tuple scan_request(bytes head, tuple drop=*, bytes host_header=*)
cpdef tuple scan_response(bytes head)
cpdef tuple scan_response_in(object buf, Py_ssize_t end)
cpdef Py_ssize_t head_end(object buf, Py_ssize_t pos=*) except -2
