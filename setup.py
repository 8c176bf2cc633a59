"""The compiled part of the package; everything else is in pyproject.toml.

cdc_streamer._fastpath (JSON encoding and binlog row decoding in C) is optional: without a C compiler the
install still succeeds and the streamer uses its pure-Python path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cdc_streamer._fastpath",
            ["cdc_streamer/_fastpath.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
        )
    ]
)
