"""Reports built from finished run directories: the paper's tables and figures beside ours."""
