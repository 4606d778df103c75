"""One HTML page per run: the data, the split, the candidates, the plots, the gate."""
