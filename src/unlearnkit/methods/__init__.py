"""Unlearning methods: the pure loss math (``losses``, ``sga_math``, ``flat_math``, ``prism_math``),
refusal templates (``templates``) and, beside them, one small class per method."""
