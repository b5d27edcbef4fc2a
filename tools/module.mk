# Host-side tests of the build and test infrastructure.
NATIVE_TESTS += tools/kbuild-check.sh tools/dkms-check.sh tools/dkms-install-check.sh tools/vm/test/vm-run.test.sh
