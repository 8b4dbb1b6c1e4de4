"""PRISM: the method (``method``) and its robust probe (``probe``)."""
