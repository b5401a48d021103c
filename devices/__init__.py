"""Reading medical devices: pure protocol codecs, thin transports, simulators, the Reading model."""
