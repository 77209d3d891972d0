// A shared object that is not a plugin: no FLASKPP_PLUGIN block.
extern "C" __attribute__((visibility("default"))) int flaskpp_plugin_abi_v1_typo() { return 0; }
