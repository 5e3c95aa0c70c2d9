pub mod debs;
