"""Building blocks shared by both layer families, the up-samplers (``pixeldcn.upsamplers``) and the
same-size convolutions (``pixeldcn.convs``): the phase grid (``phases``) and the options every
pixel layer takes (``options``). Neither family imports the other."""
