import Testing

@Test func placeholder_ControlSocketTests() {}
