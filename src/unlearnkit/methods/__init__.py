"""Unlearning methods: one class per method (one file; a seed method one folder: ``sga/``,
``prism/``), the shared loss math (``losses``), gradient-list algebra (``grads``), refusal
templates (``templates``), and the registry that names them."""
