"""Site validation, adaptation and monitoring: a hospital measures, adapts and watches the reader
on its own labelled films (``radiview site validate|adapt|monitor``)."""
