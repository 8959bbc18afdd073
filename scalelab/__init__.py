"""Scale Lab: hands-on lessons on keeping a service alive under traffic spikes.

The notebooks import small, synchronous helpers from here; the command line
(`scalelab up | down | status | doctor | reset`) lives in :mod:`scalelab.cli`.
"""

__version__ = "0.1.0"
