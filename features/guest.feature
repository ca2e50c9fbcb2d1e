@guest
Feature: Proof from inside the guest
  API objects can say Paused or Running while the guest was in fact rebooted. Like KubeVirt's
  own tests, these scenarios log in on the serial console and check from inside the guest:
  a marker written to RAM, the boot id, and the guest's clock.

  Background:
    Given a running VM
    And I am logged in to the VM's serial console
    When I write a marker into the guest's memory

  @lab-2.1 @step-7
  Scenario: Guest pause keeps memory
    When I note the guest's clock
    And I pause the VM
    Then the pause is accepted
    And the VM reaches Paused
    And the VM stays Paused for a few seconds
    When I unpause the VM
    Then the unpause is accepted
    And the VM reaches Running
    And the guest still holds the marker
    And the guest did not reboot
    And the guest's clock stood still while it was paused

  @lab-2.2 @step-1 @needs-migration
  Scenario: Guest live migration keeps the guest running
    When I migrate the VM
    Then the migration succeeds
    And the guest runs on the new node
    And the guest still holds the marker
    And the guest did not reboot

  @lab-2.1 @step-3
  Scenario: Guest restart reboots the guest
    Given I note the VM's VMI, node and launcher pod
    When I restart the VM
    Then the restart is accepted
    And the VM gets a new VMI with the same name
    And the VM reaches Running
    And the guest rebooted and lost the marker
