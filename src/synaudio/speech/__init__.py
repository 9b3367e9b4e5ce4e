"""The VAE-family benchmark on SynSpeech (issue 6, part 4): a log-mel front-end over the
whole clip, a backbone sized for it, the SynTone study's objectives and training loop,
and evaluation by linear probes per factor plus the disentanglement metrics suite."""
