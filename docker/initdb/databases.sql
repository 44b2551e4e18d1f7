-- One database per node, as two nodes on two sites would have.
CREATE DATABASE central;
CREATE DATABASE paris;
