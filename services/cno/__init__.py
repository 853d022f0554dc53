"""A charging network operator (CNO): its stations' prices in the pricing game."""
