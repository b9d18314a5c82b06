"""Tests of tap-twitter-metrics."""
