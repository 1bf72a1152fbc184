"""Reports that it cannot run here, before it becomes ready."""
import zdtmtst as t

t.init()
t.skip("needs a device this machine lacks")
