import Testing

@Test func placeholder_MonitorConfigTests() {}
