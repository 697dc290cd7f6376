"""The test harness: in-memory images and archives, the fixture images of the real engine, real
registries behind a fault proxy, imgaudit's command line run for a test, and a headless browser."""
