# The libFuzzer targets (tests/fuzz/<name>_fuzz.cpp), shared by the fuzz build (tests/fuzz) and the
# corpus replay tests every build runs (tests/CMakeLists.txt).
set(FLASKPP_FUZZ_TARGETS multipart router json_body request_decode config_values uploads rate_limit
    session schema jobs)
