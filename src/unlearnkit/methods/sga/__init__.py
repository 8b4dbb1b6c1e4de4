"""SGA: smoothed gradient ascent (``method``), its math (``math``) and its normal data."""
