"""Public dataset API: parsers of the on-disk layouts (``sysu_mm01``, ``regdb``, ``faces``) and the sampler."""
