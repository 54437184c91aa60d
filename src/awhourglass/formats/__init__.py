"""On-disk facts of the public datasets shared by the readers (:mod:`awhourglass.data`) and the generator's
writers (:mod:`awhourglass.synth`): depth-PNG codecs and camera calibrations. Each encode has its decode."""
