# The zdtm plugin is loaded through its pytest11 entry point (pip install -e .);
# nothing else is needed at the top level. Kept so pytest uses this directory
# as rootdir for `pytest zdtm` and `pytest selftests` alike.
