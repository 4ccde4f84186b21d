public enum SmartSolarAPIPlaceholder {}
