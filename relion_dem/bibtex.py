# -*- coding: utf-8 -*-
"""
@article{RamirezAportela2022,
title = "Reducing overfitting in cryo-EM refinement by in-loop deep-learning regularization",
author = "Ramirez-Aportela, Erney and Carazo, Jose Maria and Sorzano, Carlos Oscar S.",
journal = "IUCrJ",
volume = "9",
year = "2022"
}

@article{SanchezGarcia2021,
title = "DeepEMhancer: a deep learning solution for cryo-EM volume post-processing",
author = "Sanchez-Garcia, Ruben and Gomez-Blanco, Josue and Cuervo, Ana and Carazo, Jose Maria and Sorzano, Carlos Oscar S. and Vargas, Javier",
journal = "Communications Biology",
volume = "4",
pages = "874",
year = "2021",
doi = "http://dx.doi.org/10.1038/s42003-021-02399-1"
}

@article{Scheres2012b,
title = "RELION: Implementation of a Bayesian approach to cryo-EM structure determination",
author = "Scheres, Sjors H. W.",
journal = "J. Struct. Biol.",
volume = "180",
number = "3",
pages = "519-530",
year = "2012",
doi = "http://dx.doi.org/10.1016/j.jsb.2012.09.006"
}

@article{Zivanov2018,
title = "New tools for automated high-resolution cryo-EM structure determination in RELION-3",
author = "Zivanov, Jasenko and Nakane, Takanori and Forsberg, Björn O. and Kimanius, Dari and Hagen, Wim J. H. and Lindahl, Erik and Scheres, Sjors H. W.",
journal = "eLife",
volume = "7",
pages = "e42166",
year = "2018",
doi = "http://dx.doi.org/10.7554/eLife.42166"
}

@article{Chen2013,
title = "High-resolution noise substitution to measure overfitting and validate resolution in 3D structure determination by single particle electron cryomicroscopy",
author = "Chen, Shaoxia and McMullan, Greg and Faruqi, Abdul R. and Murshudov, Garib N. and Short, Judith M. and Scheres, Sjors H. W. and Henderson, Richard",
journal = "Ultramicroscopy",
volume = "135",
pages = "24-35",
year = "2013",
doi = "http://dx.doi.org/10.1016/j.ultramic.2013.06.004"
}

@article{Pintilie2020,
title = "Measurement of atom resolvability in cryo-EM maps with Q-scores",
author = "Pintilie, Grigore and Zhang, Kaiming and Su, Zhaoming and Li, Shanshan and Schmid, Michael F. and Chiu, Wah",
journal = "Nature Methods",
volume = "17",
pages = "328-334",
year = "2020",
doi = "http://dx.doi.org/10.1038/s41592-020-0731-1"
}

@article{RamirezAportela2021,
title = "FSC-Q: a CryoEM map-to-atomic model quality validation based on the local Fourier shell correlation",
author = "Ramirez-Aportela, Erney and Maluenda, David and Fonseca, Yunior C. and Conesa, Pablo and Marabini, Roberto and Heymann, J. Bernard and Carazo, Jose Maria and Sorzano, Carlos Oscar S.",
journal = "Nature Communications",
volume = "12",
pages = "42",
year = "2021",
doi = "http://dx.doi.org/10.1038/s41467-020-20295-w"
}
"""
