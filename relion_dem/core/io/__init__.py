"""Files: STAR, MRC, atomic writes, RELION's programs and run layout."""
