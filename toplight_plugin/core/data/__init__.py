"""Dataset parsers: files on disk -> ``Record`` lists, with no knowledge of any host toolbox."""
