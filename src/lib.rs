pub mod mtasts;
