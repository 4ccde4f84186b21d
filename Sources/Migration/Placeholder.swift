public enum MigrationPlaceholder {}
