"""PACS connectivity: DICOMweb and DIMSE query/retrieve, a C-STORE listener, DICOM results.

No Qt here. Layer order: io → inference → batch → net → gui/cli.
"""
