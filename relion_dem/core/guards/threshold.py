"""The gold-standard FSC threshold the guards and the network's input taper use: 1/7.

RELION's resolution criterion (SSNR > 1 in the average of the halves, Rosenthal & Henderson
2003); RELION 5's Blush keeps its network only where the FSC reaches it.
"""
THRESHOLD = 1.0 / 7.0
