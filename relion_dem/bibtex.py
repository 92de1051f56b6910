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
"""
