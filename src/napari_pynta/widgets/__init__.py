"""PyNTA dock widgets (Camera, Tracking, Sizes); ``viewer_link`` is the only module touching layers.

Submodules are imported by napari through ``napari.yaml``; nothing is imported here so that the
reader can use :mod:`napari_pynta.widgets.layer_data` without loading Qt.
"""
